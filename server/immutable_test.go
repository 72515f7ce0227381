package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server/servertest"
)

// An immutable tag cannot be moved or deleted, nor its artifact deleted, through any door: /v2
// (412 DENIED naming the tag and the rule), GraphQL, REST; re-pushing the digest it has succeeds,
// and an excluded or disabled rule protects nothing.
func TestImmutableTagEveryDoor(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	projectID := env.CreateProject("imm", false)
	repo := env.Host + "/imm/app"
	for _, tag := range []string{"v1", "v2"} {
		if out, err := crane("append", "-f", layerTar(t, tag+".txt", tag), "-t", repo+":"+tag); err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
	}
	digest := func(tag string) string {
		out, err := crane("digest", repo+":"+tag)
		if err != nil {
			t.Fatalf("digest %s: %v\n%s", tag, err, out)
		}
		return strings.TrimSpace(out)
	}
	v1, v2 := digest("v1"), digest("v2")

	var created struct{ CreateImmutableRule struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!) { createImmutableRule(projectID: $p, input: {repositoryPattern: "**", tagPattern: "v1"}) { id } }`,
		map[string]any{"p": projectID}, &created)

	// /v2: moving v1 by pushing v2's manifest under it.
	manifest, err := crane("manifest", repo+":v2")
	if err != nil {
		t.Fatal(err)
	}
	v2call := func(method, ref string, body string) (int, string) {
		req, _ := http.NewRequest(method, env.URL+"/v2/imm/app/manifests/"+ref, strings.NewReader(body))
		req.SetBasicAuth("admin", servertest.AdminPassword)
		req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if strings.Contains(manifest, "docker.distribution.manifest.v2") {
			req.Header.Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		}
		res, err := servertest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	refused := func(door string, status int, body string) {
		t.Helper()
		if status != http.StatusPreconditionFailed || !strings.Contains(body, `"DENIED"`) || !strings.Contains(body, "imm/app:v1 is immutable under rule "+created.CreateImmutableRule.ID) {
			t.Fatalf("%s: %d %s, want 412 DENIED naming the tag and the rule", door, status, body)
		}
	}
	status, body := v2call(http.MethodPut, "v1", manifest)
	refused("PUT another digest", status, body)
	status, body = v2call(http.MethodDelete, "v1", "")
	refused("DELETE the tag", status, body)
	status, body = v2call(http.MethodDelete, v1, "")
	refused("DELETE the artifact", status, body)
	// crane's tag (a manifest PUT) is refused too; re-pushing the same digest is not.
	if out, err := crane("tag", repo+":v2", "v1"); err == nil || !strings.Contains(out, "immutable") {
		t.Fatalf("crane tag moved an immutable tag: %v\n%s", err, out)
	}
	if out, err := crane("tag", repo+"@"+v1, "v1"); err != nil {
		t.Fatalf("re-pushing the digest an immutable tag has: %v\n%s", err, out)
	}
	// v2 is not selected: it moves freely.
	if out, err := crane("tag", repo+"@"+v1, "v2"); err != nil {
		t.Fatalf("moving a mutable tag: %v\n%s", err, out)
	}

	// GraphQL: the tag and artifact mutations.
	var ids struct {
		Repository struct {
			ID        string
			Artifacts struct {
				Edges []struct {
					Node struct {
						ID     string
						Digest string
						Tags   []struct{ ID, Name string }
					}
				}
			}
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ repository(name: "imm/app") { id artifacts(first: 10) { edges { node { id digest tags { id name } } } } } }`, nil, &ids)
	var v1Artifact, v1Tag, v2Artifact string
	for _, e := range ids.Repository.Artifacts.Edges {
		switch e.Node.Digest {
		case v1:
			v1Artifact = e.Node.ID
			for _, tg := range e.Node.Tags {
				if tg.Name == "v1" {
					v1Tag = tg.ID
				}
			}
		case v2:
			v2Artifact = e.Node.ID
		}
	}
	if v1Artifact == "" || v1Tag == "" || v2Artifact == "" {
		t.Fatalf("artifacts: %+v", ids)
	}
	forbidden := func(door, query string, vars map[string]any) {
		t.Helper()
		res := env.GraphQL("admin", servertest.AdminPassword, query, vars)
		if res.Code() != "FORBIDDEN" || !strings.Contains(fmt.Sprint(res.Errors), "immutable") {
			t.Fatalf("%s: %s %+v, want FORBIDDEN naming the rule", door, res.Code(), res.Errors)
		}
	}
	forbidden("createTag moving v1", `mutation($a: ID!) { createTag(artifactID: $a, name: "v1") { id } }`, map[string]any{"a": v2Artifact})
	forbidden("deleteTag", `mutation($t: ID!) { deleteTag(id: $t) }`, map[string]any{"t": v1Tag})
	forbidden("deleteArtifact", `mutation($a: ID!) { deleteArtifact(id: $a) }`, map[string]any{"a": v1Artifact})
	forbidden("deleteRepository", `mutation($r: ID!) { deleteRepository(id: $r) }`, map[string]any{"r": ids.Repository.ID})

	// REST: Harbor's artifact delete, by tag and by digest.
	for _, ref := range []string{"v1", v1} {
		req, _ := http.NewRequest(http.MethodDelete, env.URL+"/api/v2.0/projects/imm/repositories/app/artifacts/"+ref, nil)
		req.SetBasicAuth("admin", servertest.AdminPassword)
		res, err := servertest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "immutable") {
			t.Fatalf("REST delete %s: %d %s", ref, res.StatusCode, b)
		}
	}

	// Nothing moved: v1 still names its first digest, and both artifacts are there.
	if got := digest("v1"); got != v1 {
		t.Fatalf("v1 now names %s, want %s", got, v1)
	}

	// The REST view of the rule, and disabling it through REST: the tag is free again.
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/api/v2.0/projects/imm/immutabletagrules", nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	res, err := servertest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rules []map[string]any
	_ = json.NewDecoder(res.Body).Decode(&rules)
	res.Body.Close()
	if len(rules) != 1 || fmt.Sprint(rules[0]["tag_selectors"]) != "[map[decoration:matches kind:doublestar pattern:v1]]" {
		t.Fatalf("immutabletagrules: %v", rules)
	}
	rule := `{"disabled": true, "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v1"}],
		"scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}`
	req, _ = http.NewRequest(http.MethodPut, env.URL+"/api/v2.0/projects/imm/immutabletagrules/"+created.CreateImmutableRule.ID, strings.NewReader(rule))
	req.SetBasicAuth("admin", servertest.AdminPassword)
	res, err = servertest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("disable the rule: %d", res.StatusCode)
	}
	if out, err := crane("tag", repo+"@"+v2, "v1"); err != nil {
		t.Fatalf("moving v1 once its rule is disabled: %v\n%s", err, out)
	}
}

// Replication's pull into Berth writes through the same guarded registry: a pull-based policy that
// would move an immutable tag to the remote's digest fails that task, naming the rule, and the
// local tag keeps its artifact.
func TestImmutableTagRefusesReplicationPull(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	pushImage(t, plain, dist.addr+"/library/src:v1", 2048)
	local := pushImage(t, crane, env.Host+"/library/src:v1", 2048)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { createImmutableRule(projectID: 1, input: {repositoryPattern: "**", tagPattern: "v1"}) { id } }`, nil, nil)

	reg := mustCreate(t, env, "/registries", map[string]any{"name": "dist", "type": "docker-registry", "url": dist.URL})
	policy := mustCreate(t, env, "/replication/policies", map[string]any{
		"name": "from-dist", "src_registry": map[string]any{"id": reg},
		"filters": []map[string]any{{"type": "name", "value": "library/src"}},
		"trigger": map[string]any{"type": "manual"}, "override": true, "enabled": true,
	})
	e := runPolicy(t, env, policy)
	tasks := tasksOf(t, env, e.ID)
	if e.Status != "Failed" || len(tasks) != 1 || !strings.Contains(tasks[0].Message, "immutable") {
		t.Fatalf("execution = %+v, tasks %+v; want the task refused by the immutability rule", e, tasks)
	}
	if got, err := crane("digest", env.Host+"/library/src:v1"); err != nil || strings.TrimSpace(got) != local {
		t.Fatalf("library/src:v1 = %q %v, want the local %s", got, err, local)
	}
}
