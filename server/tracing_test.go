package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/telemetry"
)

// TestTracingReachesJaeger runs Berth with tracing on against a real Jaeger: a push makes one
// trace holding the HTTP span, the indexer's database spans and the storage driver's spans; the
// push's webhook delivery is a job whose outgoing request is a span and sends its trace context; a
// CVE export's job span links back to the GraphQL request that started it; a subscription works
// through the traced handler; and a server sampling nothing sends nothing.
//
// The unsampled server starts first: the embedded Distribution's tracers bind to the first
// provider installed in the process, so the traced server's storage spans reach its trace only
// because Berth's global provider hands each span to its parent's provider.
func TestTracingReachesJaeger(t *testing.T) {
	t.Parallel()
	j := startJaeger(t)
	suffix := randomSuffix()
	traced := func(service string, ratio float64) func(*server.Config) {
		return func(c *server.Config) {
			c.Trace = telemetry.Config{Exporter: telemetry.ExporterJaeger, Endpoint: j.otlpGRPC, Insecure: true,
				SampleRatio: ratio, ServiceName: service, Namespace: "tests",
				Attributes: map[string]string{"deployment.environment": "test"}}
		}
	}
	quietName, tracedName := "berth-unsampled-"+suffix, "berth-traced-"+suffix
	quiet := servertest.Start(t, traced(quietName, 0))
	traced1 := servertest.Start(t, traced(tracedName, 1))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	quietCrane := setupCrane(t, quiet, "admin", servertest.AdminPassword)
	if out, err := quietCrane("append", "-f", layerTar(t, "q", "quiet"), "-t", quiet.Host+"/library/quiet:1"); err != nil {
		t.Fatalf("push to the unsampled server: %v\n%s", err, out)
	}
	if err := quiet.Server.FlushTraces(ctx); err != nil {
		t.Fatalf("flush the unsampled server: %v", err)
	}

	recv := newReceiver(t, 0)
	policyID, _, r := createPolicy(t, traced1, "admin", servertest.AdminPassword, map[string]any{
		"projectID": 1, "name": "traced", "eventTypes": []string{"ARTIFACT_PUSHED"}, "address": recv.URL + "/hook"})
	if len(r.Errors) > 0 {
		t.Fatalf("create webhook policy: %+v", r.Errors)
	}
	crane := setupCrane(t, traced1, "admin", servertest.AdminPassword)
	if out, err := crane("append", "-f", layerTar(t, "f", "traced"), "-t", traced1.Host+"/library/app:1"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	// The webhook delivery (a job, then an outgoing request) carries its trace to the receiver.
	waitDelivery(t, traced1, policyID, "SUCCEEDED")
	if got := recv.received(); len(got) != 1 || got[0].header.Get("Traceparent") == "" {
		t.Errorf("the webhook receiver got no trace context: %d requests", len(got))
	}
	proj := traced1.CreateProject("scanned", false)
	// Subscriptions upgrade to WebSocket through the traced handler.
	ws := dialGraphQLWS(t, traced1, "admin", servertest.AdminPassword)
	ws.subscribe(traced1, "1", `subscription { events(types: [EXPORT_STARTED]) { type } }`, nil)
	var started struct{ ExportCVE struct{ ID string } }
	traced1.MustGraphQL("admin", servertest.AdminPassword, `mutation StartExport($p: ID!) { exportCVE(input: {projects: [$p]}) { id } }`,
		map[string]any{"p": proj}, &started)
	if m := ws.next(ctx); !strings.Contains(fmt.Sprint(m["payload"]), "EXPORT_STARTED") {
		t.Fatalf("subscription got %v", m)
	}

	// The push: one trace with the manifest PUT, the index's queries and the storage writes.
	push := j.waitForTrace(ctx, t, tracedName, "PUT /v2/{name}/manifests/{reference}", func(tr jaegerTrace) string {
		var db, storage bool
		for _, s := range tr.Spans {
			db = db || s.tag("db.system.name") == "postgresql" || s.tag("db.system") == "postgresql"
			storage = storage || s.tag("io.cncf.distribution.storage.driver.name") != ""
		}
		switch {
		case !db:
			return "no database span"
		case !storage:
			return "no storage span"
		}
		return ""
	})
	if root := push.span("PUT /v2/{name}/manifests/{reference}"); root == nil || root.tag("http.response.status_code") != "201" {
		t.Errorf("the manifest PUT span is missing or did not answer 201: %+v", root)
	}
	if svc := push.service(); svc != tracedName {
		t.Errorf("push trace service = %q", svc)
	}

	j.waitForTrace(ctx, t, tracedName, "river.work/webhook_delivery", func(tr jaegerTrace) string {
		if tr.span("HTTP POST") == nil {
			return fmt.Sprintf("no outgoing request span in %v", tr.operations())
		}
		return ""
	})

	// The export: its job's span links to the GraphQL request that queued it.
	j.waitForTrace(ctx, t, tracedName, "river.work/cve_export", func(tr jaegerTrace) string {
		work := tr.span("river.work/cve_export")
		for _, ref := range work.References {
			if ref.TraceID == work.TraceID {
				continue
			}
			req, err := j.trace(ctx, ref.TraceID)
			if err != nil {
				return err.Error()
			}
			if req.span("POST /graphql") != nil && req.span("mutation StartExport") != nil && req.span("Mutation.exportCVE") != nil {
				return ""
			}
			return fmt.Sprintf("the linked trace %s is not the GraphQL request: %v", ref.TraceID, req.operations())
		}
		for _, s := range tr.Spans {
			if s.OperationName == "POST /graphql" {
				return "" // the same trace holds the request
			}
		}
		return "the job's span links to no request"
	})

	// Nothing from the server that samples nothing, though its spans were flushed before the
	// traced server's, which Jaeger has shown by now.
	services, err := j.services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		if s == quietName {
			t.Errorf("a server sampling 0 sent spans: Jaeger knows service %s", quietName)
		}
	}
}

// jaeger is a Jaeger all-in-one on loopback ports, with its spans in memory.
type jaeger struct {
	otlpGRPC string // host:port
	query    string // http://host:port
}

func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	bin := servertest.Tool(t, "jaeger")
	ports := freePorts(t, 4)
	j := &jaeger{otlpGRPC: ports[0], query: "http://" + ports[2]}
	config := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: %s
    grpc:
      endpoint: %s
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`, ports[2], ports[3], ports[0], ports[1])
	path := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd := exec.Command(bin, "--config", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jaeger: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		_, err := j.services(ctx)
		if err == nil {
			if c, err := net.Dial("tcp", j.otlpGRPC); err == nil {
				c.Close()
				return j
			}
		}
		select {
		case <-exited:
			t.Fatalf("jaeger exited:\n%s", out.String())
		case <-ctx.Done():
			t.Fatalf("jaeger did not answer within a minute: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitForTrace waits until Jaeger holds a trace of service with a span named operation for which
// check returns "" (else why it does not fit yet), and returns it.
func (j *jaeger) waitForTrace(ctx context.Context, t *testing.T, service, operation string, check func(jaegerTrace) string) jaegerTrace {
	t.Helper()
	last := "no trace yet"
	for {
		q := url.Values{"service": {service}, "operation": {operation}, "limit": {"20"}, "lookback": {"1h"}}
		var res struct{ Data []jaegerTrace }
		if err := j.get(ctx, "/api/traces?"+q.Encode(), &res); err != nil {
			last = err.Error()
		}
		for _, tr := range res.Data {
			if why := check(tr); why == "" {
				return tr
			} else {
				last = why
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no trace of %s with %q fits: %s", service, operation, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (j *jaeger) trace(ctx context.Context, id string) (jaegerTrace, error) {
	var res struct{ Data []jaegerTrace }
	if err := j.get(ctx, "/api/traces/"+id, &res); err != nil {
		return jaegerTrace{}, err
	}
	if len(res.Data) != 1 {
		return jaegerTrace{}, fmt.Errorf("trace %s: %d found", id, len(res.Data))
	}
	return res.Data[0], nil
}

func (j *jaeger) services(ctx context.Context) ([]string, error) {
	var res struct{ Data []string }
	err := j.get(ctx, "/api/services", &res)
	return res.Data, err
}

func (j *jaeger) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.query+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// jaegerTrace is a trace as Jaeger's query API gives it.
type jaegerTrace struct {
	TraceID   string `json:"traceID"`
	Spans     []jaegerSpan
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	}
}

type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	}
	Tags []struct {
		Key   string
		Value any
	}
}

func (s *jaegerSpan) tag(key string) string {
	if s == nil {
		return ""
	}
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

func (tr jaegerTrace) span(operation string) *jaegerSpan {
	for i := range tr.Spans {
		if tr.Spans[i].OperationName == operation {
			return &tr.Spans[i]
		}
	}
	return nil
}

func (tr jaegerTrace) operations() []string {
	var ops []string
	for _, s := range tr.Spans {
		ops = append(ops, s.OperationName)
	}
	return ops
}

func (tr jaegerTrace) service() string {
	for _, p := range tr.Processes {
		return p.ServiceName
	}
	return ""
}

// freePorts returns n loopback addresses free a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// lockedBuffer collects a child process's output for a failure message.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
