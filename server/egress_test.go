package server_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/ent/webhookdelivery"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// noOutboundAllowlist starts a server as installed: no internal range may be reached.
func noOutboundAllowlist(c *server.Config) { c.OutboundAllowCIDRs = "" }

// countingServer is a loopback endpoint that only counts what reaches it: in these tests nothing may.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("internal secret"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestWebhookTargetsRefusedInside: webhooks cannot be aimed at loopback, link-local (the cloud
// metadata address) or a name that resolves there, neither when saved nor, if a saved row leads
// inside (a DNS change, an old row), when the delivery connects.
func TestWebhookTargetsRefusedInside(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, noOutboundAllowlist, fastRetries)
	inside, hits := countingServer(t)
	_, port, _ := net.SplitHostPort(inside.Listener.Addr().String())
	projectID := env.CreateProject("ssrf", false)

	for address, want := range map[string]string{
		inside.URL + "/hook":                       "webhook target 127.0.0.1 is a loopback address; an administrator can allow it with BERTH_OUTBOUND_ALLOW_CIDRS",
		"http://169.254.169.254/latest/meta-data/": "webhook target 169.254.169.254 is the cloud metadata address",
		"http://localhost:" + port + "/hook":       "webhook target localhost resolves to",
		"http://[::ffff:127.0.0.1]:" + port + "/":  "127.0.0.1 is a loopback address",
		"http://10.0.0.1/":                         "is a private address",
		"http://hookuser:s3cret@127.0.0.1:" + port: "127.0.0.1 is a loopback address",
		"http://[fe80::1]/":                        "link-local",
		"http://0.0.0.0:" + port + "/":             "unspecified",
		"http://100.64.0.1/":                       "carrier-grade NAT",
	} {
		_, _, r := createPolicy(t, env, "admin", servertest.AdminPassword, map[string]any{
			"projectID": projectID, "name": "inside", "eventTypes": []string{"ARTIFACT_PUSHED"}, "address": address})
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, want) {
			t.Errorf("webhook to %s: %+v, want BAD_USER_INPUT saying %q", address, r.Errors, want)
			continue
		}
		if strings.Contains(r.Errors[0].Message, "s3cret") {
			t.Errorf("the error repeats the URL's password: %s", r.Errors[0].Message)
		}
	}

	// A policy whose row leads inside (saved before, or by a name that now resolves inside): the
	// delivery connects to nothing, and says why.
	policy, err := env.DB.WebhookPolicy.Create().SetProjectID(projectID).SetName("rebound").SetEventTypes([]event.Type{event.ArtifactPushed}).
		SetAddress("http://hookuser:s3cret@localhost:" + port + "/hook").SetSecret(strings.Repeat("k", 32)).Save(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Editing it is refused as creating it would be.
	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { updateWebhookPolicy(id: $id, input: {name: "renamed"}) { id } }`,
		map[string]any{"id": policy.ID}); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "loopback") {
		t.Errorf("editing a policy that leads inside: %+v", r.Errors)
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { testWebhookPolicy(id: $id) { id } }`, map[string]any{"id": policy.ID}, nil)
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, err := env.DB.WebhookDelivery.Query().Where(webhookdelivery.PolicyID(policy.ID)).Only(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if d.Attempts > 0 {
			if !strings.Contains(d.Error, "outgoing connection refused") || !strings.Contains(d.Error, "loopback") {
				t.Errorf("delivery error %q does not say the address was refused", d.Error)
			}
			if strings.Contains(d.Error, "s3cret") {
				t.Errorf("the delivery error repeats the URL's password: %q", d.Error)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the delivery was never attempted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal endpoint was reached %d times", n)
	}
	if logs := env.Logs(); strings.Contains(logs, "s3cret") {
		t.Errorf("the server logged the URL's password:\n%s", logs)
	}
}

// TestWebhookAllowlistAndExcerpt: with the range allowed, the delivery goes through; what the
// receiver answered is shown to system administrators only, not to the project's admin.
func TestWebhookAllowlistAndExcerpt(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, fastRetries) // servertest allows 127.0.0.0/8
	recv := newReceiver(t, 0)
	projectID := env.CreateProject("excerpt", false)
	env.CreateUser("padmin", "padmin-password")
	env.AddMember(projectID, "padmin", "project_admin")
	policyID, _, r := createPolicy(t, env, "padmin", "padmin-password", map[string]any{
		"projectID": projectID, "name": "ok", "eventTypes": []string{"ARTIFACT_PUSHED"}, "address": recv.URL})
	if len(r.Errors) > 0 {
		t.Fatalf("a loopback receiver with the range allowed: %+v", r.Errors)
	}
	env.MustGraphQL("padmin", "padmin-password", `mutation($id: ID!) { testWebhookPolicy(id: $id) { id } }`, map[string]any{"id": policyID}, nil)
	if d := waitDelivery(t, env, policyID, "SUCCEEDED"); d.ResponseExcerpt != "thanks" {
		t.Fatalf("the system admin sees excerpt %q, want the receiver's answer", d.ResponseExcerpt)
	}
	var out struct {
		WebhookPolicy struct {
			Deliveries struct {
				Edges []struct{ Node delivery }
			}
		}
	}
	env.MustGraphQL("padmin", "padmin-password", `query($id: ID!) { webhookPolicy(id: $id) {
		deliveries(first: 1) { edges { node { status statusCode responseExcerpt } } } } }`, map[string]any{"id": policyID}, &out)
	if e := out.WebhookPolicy.Deliveries.Edges; len(e) != 1 || e[0].Node.Status != "SUCCEEDED" || e[0].Node.ResponseExcerpt != "" {
		t.Fatalf("the project admin's view of the delivery: %+v, want its status without the excerpt", e)
	}
}

// TestScannerURLRefusedInside: a scanner adapter URL is held to the same rule, when it is
// registered and when a scan connects.
func TestScannerURLRefusedInside(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, noOutboundAllowlist)
	inside, hits := countingServer(t)
	_, port, _ := net.SplitHostPort(inside.Listener.Addr().String())
	for _, mutation := range []string{"addScanner(input: $in) { id }", "pingScanner(input: $in) { name }"} {
		for url, want := range map[string]string{
			inside.URL:                          "scanner URL 127.0.0.1 is a loopback address",
			"http://localhost:" + port:          "scanner URL localhost resolves to 127.0.0.1",
			"http://169.254.169.254":            "the cloud metadata address",
			"http://u:s3cret@127.0.0.1:" + port: "loopback",
		} {
			r := env.GraphQL("admin", servertest.AdminPassword, `mutation($in: ScannerInput!) { `+mutation+` }`,
				map[string]any{"in": map[string]any{"name": "inside", "url": url}})
			if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, want) || strings.Contains(r.Errors[0].Message, "s3cret") {
				t.Errorf("%s at %s: %+v, want BAD_USER_INPUT saying %q", mutation, url, r.Errors, want)
			}
		}
	}

	// A scanner row that leads inside: the scan fails with the reason, and nothing is reached.
	ctx := t.Context()
	if err := env.DB.Scanner.Update().SetIsDefault(false).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.DB.Scanner.Create().SetName("rebound").SetURL("http://localhost:" + port).SetIsDefault(true).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	if out, err := crane("append", "-f", layerTar(t, "f", "x"), "-t", env.Host+"/library/app:1"); err != nil {
		t.Fatalf("push: %v %s", err, out)
	}
	id := artifactIDOf(t, env, crane, env.Host+"/library/app:1")
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": id}, nil)
	o := waitScan(t, env, ref{"library/app", "1"})
	if o.Status != "ERROR" || len(o.Reports) != 1 || !strings.Contains(o.Reports[0].Log, "outgoing connection refused") {
		t.Errorf("scan through a scanner that leads inside: %+v", o)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal endpoint was reached %d times", n)
	}
}
