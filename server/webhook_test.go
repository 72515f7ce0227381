package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// receiver is a webhook endpoint on loopback that fails its first failFirst requests.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	requests  []*recorded
	failFirst int
}

type recorded struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, &recorded{header: req.Header.Clone(), body: body})
		n := len(r.requests)
		r.mu.Unlock()
		if n <= r.failFirst {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("thanks"))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []*recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*recorded(nil), r.requests...)
}

func fastRetries(c *server.Config) { c.WebhookRetryBase = 100 * time.Millisecond }

func createPolicy(t *testing.T, env *servertest.Env, user, password string, input map[string]any) (id, secret string, r *servertest.GraphQLResponse) {
	t.Helper()
	r = env.GraphQL(user, password, `mutation($in: CreateWebhookPolicyInput!) { createWebhookPolicy(input: $in) { secret policy { id } } }`,
		map[string]any{"in": input})
	if len(r.Errors) > 0 {
		return "", "", r
	}
	var out struct {
		CreateWebhookPolicy struct {
			Secret string
			Policy struct{ ID string }
		}
	}
	_ = json.Unmarshal(r.Data, &out)
	return out.CreateWebhookPolicy.Policy.ID, out.CreateWebhookPolicy.Secret, r
}

type delivery struct {
	Status          string
	Attempts        int
	StatusCode      *int
	LatencyMs       *int
	ResponseExcerpt string
	EventType       string
	Test            bool
}

// waitDelivery polls the policy's newest delivery until it reaches status or the deadline passes.
func waitDelivery(t *testing.T, env *servertest.Env, policyID, status string) delivery {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var out struct {
			WebhookPolicy struct {
				Deliveries struct {
					Edges []struct{ Node delivery }
				}
			}
		}
		env.MustGraphQL("admin", servertest.AdminPassword, `query($id: ID!) { webhookPolicy(id: $id) {
			deliveries(first: 1, orderBy: {field: CREATED_AT, direction: DESC}) { edges { node {
				status attempts statusCode latencyMs responseExcerpt eventType test } } } } }`,
			map[string]any{"id": policyID}, &out)
		if e := out.WebhookPolicy.Deliveries.Edges; len(e) > 0 && e[0].Node.Status == status {
			return e[0].Node
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery did not reach %s: %+v", status, out.WebhookPolicy.Deliveries.Edges)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestWebhookRetriesUntilDeliveredAndSigns(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, fastRetries)
	projectID := env.CreateProject("hooks", false)
	recv := newReceiver(t, 2)
	policyID, secret, r := createPolicy(t, env, "admin", servertest.AdminPassword, map[string]any{
		"projectID": projectID, "name": "ci", "eventTypes": []string{"ARTIFACT_PUSHED"},
		"address": recv.URL + "/hook", "authHeader": "Bearer receiver-token",
	})
	if len(r.Errors) > 0 {
		t.Fatalf("create policy: %+v", r.Errors)
	}

	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	ref := env.Host + "/hooks/app:1.0"
	if out, err := crane("append", "-f", layerTar(t, "f", "x"), "-t", ref); err != nil {
		t.Fatalf("push: %v %s", err, out)
	}
	digest, _ := crane("digest", ref)
	digest = strings.TrimSpace(digest)

	d := waitDelivery(t, env, policyID, "SUCCEEDED")
	if d.Attempts != 3 || d.StatusCode == nil || *d.StatusCode != 200 || d.LatencyMs == nil || d.ResponseExcerpt != "thanks" || d.EventType != "ARTIFACT_PUSHED" {
		t.Fatalf("delivery history = %+v; want 3 attempts, the last 200 with the receiver's answer", d)
	}
	got := recv.received()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (two failures, one success)", len(got))
	}
	last := got[2]
	if string(got[0].body) != string(last.body) {
		t.Fatal("a retry sent a different body")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(last.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); last.header.Get("X-Berth-Signature-256") != want {
		t.Fatalf("signature %q, want %q", last.header.Get("X-Berth-Signature-256"), want)
	}
	if last.header.Get("Authorization") != "Bearer receiver-token" || last.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers: %v", last.header)
	}

	// Harbor's payload, field by field.
	var p struct {
		Type      string `json:"type"`
		OccurAt   int64  `json:"occur_at"`
		Operator  string `json:"operator"`
		EventData struct {
			Resources []struct {
				Digest      string `json:"digest"`
				Tag         string `json:"tag"`
				ResourceURL string `json:"resource_url"`
			} `json:"resources"`
			Repository struct {
				Name         string `json:"name"`
				Namespace    string `json:"namespace"`
				RepoFullName string `json:"repo_full_name"`
				RepoType     string `json:"repo_type"`
				DateCreated  int64  `json:"date_created"`
			} `json:"repository"`
		} `json:"event_data"`
	}
	if err := json.Unmarshal(last.body, &p); err != nil {
		t.Fatalf("payload %s: %v", last.body, err)
	}
	now := time.Now().Unix()
	res, repo := p.EventData.Resources, p.EventData.Repository
	switch {
	case p.Type != "PUSH_ARTIFACT", p.Operator != "admin", p.OccurAt < now-120 || p.OccurAt > now:
		t.Fatalf("payload header fields: %s", last.body)
	case len(res) != 1 || res[0].Digest != digest || res[0].Tag != "1.0" || res[0].ResourceURL != env.Config.RegistryHost()+"/hooks/app:1.0":
		t.Fatalf("payload resources: %s (want digest %s)", last.body, digest)
	case repo.Name != "app" || repo.Namespace != "hooks" || repo.RepoFullName != "hooks/app" || repo.RepoType != "private" || repo.DateCreated == 0:
		t.Fatalf("payload repository: %s", last.body)
	}
}

func TestWebhookCloudEventsTestDelivery(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, fastRetries)
	projectID := env.CreateProject("ce", true)
	recv := newReceiver(t, 0)
	policyID, _, r := createPolicy(t, env, "admin", servertest.AdminPassword, map[string]any{
		"projectID": projectID, "name": "ce", "eventTypes": []string{"ARTIFACT_DELETED"},
		"address": recv.URL, "payloadFormat": "CLOUDEVENTS",
	})
	if len(r.Errors) > 0 {
		t.Fatalf("create policy: %+v", r.Errors)
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { testWebhookPolicy(id: $id) { id status test } }`,
		map[string]any{"id": policyID}, nil)
	if d := waitDelivery(t, env, policyID, "SUCCEEDED"); !d.Test || d.Attempts != 1 {
		t.Fatalf("test delivery = %+v", d)
	}
	got := recv.received()
	if len(got) != 1 || got[0].header.Get("Content-Type") != "application/cloudevents+json" {
		t.Fatalf("receiver got %d requests: %+v", len(got), got)
	}
	var ce map[string]any
	if err := json.Unmarshal(got[0].body, &ce); err != nil {
		t.Fatal(err)
	}
	if ce["specversion"] != "1.0" || ce["type"] != "dev.berth.artifact.pushed" || ce["source"] != "/projects/ce" ||
		ce["subject"] != "ce/webhook-test" || ce["id"] == "" || ce["datacontenttype"] != "application/json" || ce["data"] == nil {
		t.Fatalf("cloud event: %s", got[0].body)
	}
}

// A receiver that never answers does not hold up pushes: deliveries run after the push answered.
func TestHungReceiverDoesNotSlowPushes(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	projectID := env.CreateProject("slow", false)
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(func() { close(release); hung.Close() })
	if _, _, r := createPolicy(t, env, "admin", servertest.AdminPassword, map[string]any{
		"projectID": projectID, "name": "hung", "eventTypes": []string{"ARTIFACT_PUSHED"}, "address": hung.URL,
	}); len(r.Errors) > 0 {
		t.Fatalf("create policy: %+v", r.Errors)
	}
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	for i, tag := range []string{"a", "b", "c"} {
		if out, err := crane("append", "-f", layerTar(t, "f", tag), "-t", env.Host+"/slow/app:"+tag); err != nil {
			t.Fatalf("push %d while the receiver hangs: %v %s", i, err, out)
		}
	}
	// Every push has answered; the receiver got its requests and is still holding them.
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery reached the receiver")
	}
}

func TestWebhookPermissions(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	projectID := env.CreateProject("perm", false)
	for _, role := range []string{"maintainer", "developer", "guest"} {
		env.CreateUser(role+"1", role+"-password")
		env.AddMember(projectID, role+"1", role)
	}
	input := map[string]any{"projectID": projectID, "name": "x", "eventTypes": []string{"ARTIFACT_PUSHED"}, "address": "http://127.0.0.1:9/"}
	for _, role := range []string{"maintainer", "developer", "guest"} {
		if _, _, r := createPolicy(t, env, role+"1", role+"-password", input); r.Code() != "FORBIDDEN" {
			t.Errorf("%s creating a policy: %+v, want FORBIDDEN", role, r.Errors)
		}
	}
	policyID, _, r := createPolicy(t, env, "admin", servertest.AdminPassword, input)
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	list := `query($p: ID!) { webhookPolicies(projectID: $p) { name } }`
	if r := env.GraphQL("maintainer1", "maintainer-password", list, map[string]any{"p": projectID}); len(r.Errors) > 0 {
		t.Errorf("maintainer listing policies: %+v", r.Errors)
	}
	for _, role := range []string{"developer", "guest"} {
		if r := env.GraphQL(role+"1", role+"-password", list, map[string]any{"p": projectID}); r.Code() != "FORBIDDEN" {
			t.Errorf("%s listing policies: %+v, want FORBIDDEN", role, r.Errors)
		}
	}
	if r := env.GraphQL("maintainer1", "maintainer-password", `mutation($id: ID!) { deleteWebhookPolicy(id: $id) }`,
		map[string]any{"id": policyID}); r.Code() != "FORBIDDEN" {
		t.Errorf("maintainer deleting a policy: %+v, want FORBIDDEN", r.Errors)
	}
	// Bad input is named.
	bad := map[string]any{"projectID": projectID, "name": "y", "eventTypes": []string{}, "address": "ftp://x"}
	if _, _, r := createPolicy(t, env, "admin", servertest.AdminPassword, bad); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("policy without event types: %+v", r.Errors)
	}
	bad["eventTypes"] = []string{"ARTIFACT_PUSHED"}
	if _, _, r := createPolicy(t, env, "admin", servertest.AdminPassword, bad); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "http") {
		t.Errorf("policy with an ftp address: %+v", r.Errors)
	}
	// Job and project-lifecycle events never reach a project's policy: asking for them is refused.
	bad["address"] = "http://127.0.0.1:9/"
	bad["eventTypes"] = []string{"ARTIFACT_PUSHED", "PURGE_COMPLETED"}
	if _, _, r := createPolicy(t, env, "admin", servertest.AdminPassword, bad); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "PURGE_COMPLETED") {
		t.Errorf("policy for purge events: %+v", r.Errors)
	}
	if r := env.GraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { updateWebhookPolicy(id: $id, input: {eventTypes: [PROJECT_DELETED]}) { id } }`,
		map[string]any{"id": policyID}); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("policy changed to project deletions: %+v", r.Errors)
	}
}

// Two replicas on one database and one storage: a subscriber on B sees a push made through A, and
// the push's webhook is delivered once although both replicas dispatch.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	a := servertest.Start(t, fastRetries)
	b := servertest.Start(t, fastRetries, func(c *server.Config) {
		c.DatabaseURL, c.DataDir = a.DatabaseURL, a.DataDir
	})
	projectID := a.CreateProject("shared", false)
	recv := newReceiver(t, 0)
	policyID, _, r := createPolicy(t, b, "admin", servertest.AdminPassword, map[string]any{
		"projectID": projectID, "name": "once", "eventTypes": []string{"ARTIFACT_PUSHED"}, "address": recv.URL,
	})
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	sub := dialGraphQLWS(t, b, "admin", servertest.AdminPassword)
	sub.subscribe(b, "1", `subscription { events(types: [ARTIFACT_PUSHED]) { repository tag } }`, nil)

	crane := setupCrane(t, a, "admin", servertest.AdminPassword)
	pushed := time.Now()
	if out, err := crane("append", "-f", layerTar(t, "f", "r"), "-t", a.Host+"/shared/app:v1"); err != nil {
		t.Fatalf("push through A: %v %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := sub.next(ctx)
	if b, _ := json.Marshal(m["payload"]); !strings.Contains(string(b), `"repository":"shared/app"`) {
		t.Fatalf("subscriber on B got %s", b)
	}
	t.Logf("push through A seen on B %v after the push began", time.Since(pushed).Round(time.Millisecond))

	waitDelivery(t, a, policyID, "SUCCEEDED")
	time.Sleep(3 * time.Second) // both dispatchers have swept by now
	if n := len(recv.received()); n != 1 {
		t.Fatalf("webhook delivered %d times, want once", n)
	}
	// B serves what A stored.
	if out, err := setupCrane(t, b, "admin", servertest.AdminPassword)("manifest", b.Host+"/shared/app:v1"); err != nil {
		t.Fatalf("pull through B: %v %s", err, out)
	}
}
