package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/server/servertest"
)

// doorAnswer is what a door said, in Decide's words (a door that cannot tell Hidden from Refused, as
// the token service cannot, has its expectation folded).
type doorAnswer string

const (
	answerAllowed doorAnswer = "allowed"
	answerHidden  doorAnswer = "hidden"
	answerRefused doorAnswer = "refused"
	// answerSkip: the probe cannot ask this caller (what it needs to reach is out of the caller's
	// sight for another reason); other probes and myPermissions still cover the action.
	answerSkip doorAnswer = "not asked"
)

// doorCaller is one principal of the matrix.
type doorCaller struct {
	name          string
	authorization string // the Authorization header; "" for the anonymous
	project       string // where its project actions are tried
}

func (c doorCaller) anonymous() bool { return c.authorization == "" }

// doorProbe asks one door about one action, as one caller.
type doorProbe struct {
	door string // "/v2", "token", "GraphQL", "REST"
	// folds: the door answers Hidden as Refused (the token service leaves both out).
	folds bool
	try   func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string)
}

// doorMatrix is the one server, its fixture, and Decide on the same database.
type doorMatrix struct {
	*permFixture
	decider  *auth.Service
	policies map[string]int // a webhook policy's id, by project
	baseIDs  map[string]string
	scanner  string // the built-in scanner's id

	// adminGQL and adminV2 are the system administrator's identity token and registry token (for
	// the app repositories), so that arranging a probe costs no password check.
	adminGQL, adminV2 doorCaller
	manifests         map[string][]byte // <project>/app:base

	mu         sync.Mutex
	principals map[string]*auth.Principal // by Authorization header: a password is checked once
}

// decide is auth.Decide's answer for c.
func (m *doorMatrix) decide(t *testing.T, c doorCaller, project string, action auth.Action) auth.Decision {
	t.Helper()
	ctx := context.Background()
	req, _ := http.NewRequest(http.MethodGet, m.env.URL, nil)
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	m.mu.Lock()
	p, ok := m.principals[c.authorization]
	m.mu.Unlock()
	if !ok {
		var err error
		if p, _, err = m.decider.Authenticate(ctx, req); err != nil {
			t.Fatalf("authenticate %s: %v", c.name, err)
		}
		m.mu.Lock()
		m.principals[c.authorization] = p
		m.mu.Unlock()
	}
	res := auth.System
	if project != "" {
		proj, err := m.env.DB.Project.Get(ctx, m.projects[project])
		if err != nil {
			t.Fatalf("project %s: %v", project, err)
		}
		res = auth.InProjectResource(proj)
	}
	d, err := m.decider.Decide(ctx, p, res, action)
	if err != nil {
		t.Fatalf("decide %s for %s: %v", action, c.name, err)
	}
	return d
}

// gql posts a GraphQL operation as c and returns the decoded answer.
func (m *doorMatrix) gql(t *testing.T, c doorCaller, query string, vars map[string]any) *servertest.GraphQLResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, m.env.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("graphql as %s: %v", c.name, err)
	}
	defer resp.Body.Close()
	var res servertest.GraphQLResponse
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatalf("graphql as %s: %d: %v", c.name, resp.StatusCode, err)
	}
	return &res
}

// admin runs a GraphQL operation as the system administrator and decodes its data into out.
func (m *doorMatrix) admin(t *testing.T, query string, vars map[string]any, out any) {
	t.Helper()
	res := m.gql(t, m.adminGQL, query, vars)
	if len(res.Errors) > 0 {
		t.Fatalf("as admin: %s: %+v", query, res.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			t.Fatalf("as admin: decode %s: %v", res.Data, err)
		}
	}
}

// gqlAnswer reads a GraphQL answer: success (or one of the codes that only a caller let through
// can get, such as CONFLICT) is allowed, NOT_FOUND hidden, and the refusal the caller should get
// (UNAUTHENTICATED for the anonymous, FORBIDDEN otherwise) refused.
func gqlAnswer(c doorCaller, res *servertest.GraphQLResponse, passed ...string) (doorAnswer, string) {
	code := res.Code()
	detail := fmt.Sprintf("%s %+v", res.Data, res.Errors)
	switch {
	case code == "" || slices.Contains(passed, code):
		return answerAllowed, detail
	case code == "NOT_FOUND":
		return answerHidden, detail
	case code == "UNAUTHENTICATED" && c.anonymous(), code == "FORBIDDEN" && !c.anonymous():
		return answerRefused, detail
	default:
		return doorAnswer("unexpected " + code), detail
	}
}

// restAnswer reads a REST answer the same way: 2xx (or a status in passed) allowed, 404 hidden,
// 401 for the anonymous and 403 for everyone else refused.
func restAnswer(c doorCaller, status int, body []byte, passed ...int) (doorAnswer, string) {
	detail := fmt.Sprintf("%d %s", status, body)
	switch {
	case status/100 == 2 || slices.Contains(passed, status):
		return answerAllowed, detail
	case status == http.StatusNotFound:
		return answerHidden, detail
	case status == http.StatusUnauthorized && c.anonymous(), status == http.StatusForbidden && !c.anonymous():
		return answerRefused, detail
	default:
		return doorAnswer("unexpected " + strconv.Itoa(status)), detail
	}
}

// registryAnswer reads a /v2 answer: ok allowed; a Bearer challenge for the anonymous and 403
// DENIED for everyone else refused; 404 NAME_UNKNOWN (a project the caller may not see) hidden.
func registryAnswer(c doorCaller, ok, status int, hdr http.Header, body []byte) (doorAnswer, string) {
	detail := fmt.Sprintf("%d (WWW-Authenticate %q) %s", status, hdr.Get("WWW-Authenticate"), body)
	switch {
	case status == ok:
		return answerAllowed, detail
	case c.anonymous() && status == http.StatusUnauthorized && strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer realm="):
		return answerRefused, detail
	case !c.anonymous() && status == http.StatusForbidden && permErrCode(body) == "DENIED":
		return answerRefused, detail
	case !c.anonymous() && status == http.StatusNotFound && permErrCode(body) == "NAME_UNKNOWN":
		return answerHidden, detail
	default:
		return doorAnswer("unexpected " + strconv.Itoa(status)), detail
	}
}

// gqlProbe is a GraphQL probe of one operation whose variables come from vars.
func gqlProbe(query string, vars func(t *testing.T, m *doorMatrix, c doorCaller) map[string]any, passed ...string) doorProbe {
	return doorProbe{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
		return gqlAnswer(c, m.gql(t, c, query, vars(t, m, c)), passed...)
	}}
}

// gqlHiding is a GraphQL probe of a query whose root field (project, artifact) is null, without
// an error, for what the caller may not see.
func gqlHiding(root, query string, vars func(c doorCaller) map[string]any) doorProbe {
	return doorProbe{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
		res := m.gql(t, c, query, vars(c))
		var d map[string]json.RawMessage
		_ = json.Unmarshal(res.Data, &d)
		if len(res.Errors) == 0 && (len(d[root]) == 0 || string(d[root]) == "null") {
			return answerHidden, string(res.Data)
		}
		return gqlAnswer(c, res)
	}}
}

// gqlVisible is gqlHiding on project(name) of the caller's project.
func gqlVisible(fields string) doorProbe {
	return gqlHiding("project", `query($n: String!) { project(name: $n) { `+fields+` } }`,
		func(c doorCaller) map[string]any { return map[string]any{"n": c.project} })
}

// gqlBase is gqlHiding on artifact(<project>/app:base).
func gqlBase(fields string) doorProbe {
	return gqlHiding("artifact", `query($r: String!) { artifact(repository: $r, reference: "base") { `+fields+` } }`,
		func(c doorCaller) map[string]any { return map[string]any{"r": c.project + "/app"} })
}

// restProbe is a REST probe of one request; path may use the caller's project.
func restProbe(method string, path func(t *testing.T, m *doorMatrix, c doorCaller) string, body string, passed ...int) doorProbe {
	return doorProbe{door: "REST", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
		status, _, b := m.do(t, method, path(t, m, c), c.authorization, []byte(body), "application/json")
		return restAnswer(c, status, b, passed...)
	}}
}

// registryProbe is a /v2 probe of one request that answers ok when allowed.
func registryProbe(method string, path func(t *testing.T, m *doorMatrix, c doorCaller) string, ok int) doorProbe {
	return doorProbe{door: "/v2", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
		status, hdr, b := m.do(t, method, path(t, m, c), c.authorization, nil, "")
		return registryAnswer(c, ok, status, hdr, b)
	}}
}

// tokenProbe asks the token service for one scope: granted is allowed, left out refused.
func tokenProbe(scope func(c doorCaller) string, want func(granted []string) bool) doorProbe {
	return doorProbe{door: "token", folds: true, try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
		status, _, b := m.do(t, http.MethodGet, "/service/token?service=berth&scope="+scope(c), c.authorization, nil, "")
		if status != http.StatusOK {
			return doorAnswer("unexpected " + strconv.Itoa(status)), string(b)
		}
		var tok struct{ Token string }
		_ = json.Unmarshal(b, &tok)
		granted := tokenGrants(t, tok.Token)
		if want(granted) {
			return answerAllowed, fmt.Sprint(granted)
		}
		return answerRefused, fmt.Sprint(granted)
	}}
}

// tokenGrants is every "type:name:action" a token's payload grants (no signature check: the
// registry does that).
func tokenGrants(t *testing.T, token string) []string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var claims struct {
		Access []struct {
			Type, Name string
			Actions    []string
		}
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("token payload %s: %v", payload, err)
	}
	var out []string
	for _, a := range claims.Access {
		for _, act := range a.Actions {
			out = append(out, a.Type+":"+a.Name+":"+act)
		}
	}
	return out
}

// repoScope is a token probe for one verb on the caller's project's app repository.
func repoScope(verb string) doorProbe {
	return tokenProbe(func(c doorCaller) string { return "repository:" + c.project + "/app:" + verb },
		func(granted []string) bool { return len(granted) == 1 && strings.HasSuffix(granted[0], ":"+verb) })
}

// slug is the caller's name as part of a name or tag: lower case, no spaces.
// withToken is a /v2 probe sent with a registry token the caller got from the token service for
// verb: what the token service leaves out, the registry refuses.
func withToken(verb, method string, path func(c doorCaller) string, ok int) doorProbe {
	return doorProbe{door: "/v2 with a token", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
		status, _, b := m.do(t, http.MethodGet, "/service/token?service=berth&scope=repository:"+c.project+"/app:"+verb, c.authorization, nil, "")
		var tok struct{ Token string }
		if err := json.Unmarshal(b, &tok); status != http.StatusOK || err != nil {
			return doorAnswer("unexpected " + strconv.Itoa(status)), string(b)
		}
		bearer := doorCaller{name: c.name, authorization: "Bearer " + tok.Token, project: c.project}
		status, hdr, b := m.do(t, method, path(c), bearer.authorization, nil, "")
		// A token is never anonymous, but an anonymous caller's refusal is still a challenge.
		if c.anonymous() && status == http.StatusUnauthorized && strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer realm=") {
			return answerRefused, fmt.Sprintf("%d %s", status, b)
		}
		return registryAnswer(bearer, ok, status, hdr, b)
	}}
}

func (c doorCaller) slug() string {
	return strings.ToLower(strings.NewReplacer("$", "", "+", "-", ":", "-", "_", "-", " ", "-").Replace(c.name))
}

// fresh pushes a new artifact tagged <what>-<caller> into the caller's project as admin, for a
// probe that uses it up: the base image with an annotation that makes its digest its own.
func (m *doorMatrix) fresh(t *testing.T, c doorCaller, what string) (digest, id, tag string) {
	t.Helper()
	tag = what + "-" + c.slug()
	var manifest map[string]any
	if err := json.Unmarshal(m.manifests[c.project], &manifest); err != nil {
		t.Fatal(err)
	}
	manifest["annotations"] = map[string]string{"probe": tag}
	body, _ := json.Marshal(manifest)
	status, hdr, resp := m.do(t, http.MethodPut, "/v2/"+c.project+"/app/manifests/"+tag, m.adminV2.authorization, body, "application/vnd.oci.image.manifest.v1+json")
	if status != http.StatusCreated {
		t.Fatalf("push %s: %d %s", tag, status, resp)
	}
	digest = hdr.Get("Docker-Content-Digest")
	var a struct{ Artifact struct{ ID string } }
	m.admin(t, `query($r: String!, $d: String!) { artifact(repository: $r, reference: $d) { id } }`,
		map[string]any{"r": c.project + "/app", "d": digest}, &a)
	return digest, a.Artifact.ID, tag
}

// token is a token from the token service for the system administrator, with scope (none: an
// identity token).
func (m *doorMatrix) token(t *testing.T, scope string) doorCaller {
	t.Helper()
	status, _, b := m.do(t, http.MethodGet, "/service/token?service=berth"+scope, permAdmin.authorization(), nil, "")
	var tok struct{ Token string }
	if err := json.Unmarshal(b, &tok); status != http.StatusOK || err != nil {
		t.Fatalf("admin's token: %d %s", status, b)
	}
	return doorCaller{name: "admin", authorization: "Bearer " + tok.Token}
}

// tagID is the id of tag on the artifact digest in <project>/app.
func (m *doorMatrix) tagID(t *testing.T, project, digest, tag string) string {
	var a struct {
		Artifact struct{ Tags []struct{ ID, Name string } }
	}
	m.admin(t, `query($r: String!, $d: String!) { artifact(repository: $r, reference: $d) { tags { id name } } }`,
		map[string]any{"r": project + "/app", "d": digest}, &a)
	for _, tg := range a.Artifact.Tags {
		if tg.Name == tag {
			return tg.ID
		}
	}
	t.Fatalf("%s/app@%s has no tag %s", project, digest, tag)
	return ""
}

// undo runs an admin clean-up of what an allowed probe made, when it made it.
func (m *doorMatrix) undo(t *testing.T, res *servertest.GraphQLResponse, idPath []string, mutation string) {
	if len(res.Errors) > 0 {
		return
	}
	var v any
	_ = json.Unmarshal(res.Data, &v)
	for _, k := range idPath {
		o, _ := v.(map[string]any)
		v = o[k]
	}
	if id, ok := v.(string); ok {
		m.admin(t, mutation, map[string]any{"id": id}, nil)
	}
}

func projectVars(t *testing.T, m *doorMatrix, c doorCaller) map[string]any {
	return map[string]any{"p": m.projects[c.project]}
}

func noVars(*testing.T, *doorMatrix, doorCaller) map[string]any { return nil }

// projectProbes asks, for every project action, the doors that expose it.
var projectProbes = map[auth.Action][]doorProbe{
	auth.ActionReadProject: {
		gqlVisible("id"),
		restProbe(http.MethodGet, func(_ *testing.T, _ *doorMatrix, c doorCaller) string { return "/api/v2.0/projects/" + c.project }, ""),
	},
	auth.ActionUpdateProject: {
		gqlProbe(`mutation($p: ID!) { updateProject(id: $p, input: {autoScan: false}) { id } }`, projectVars),
	},
	// The project holds a repository, so a caller let through meets the emptiness check: nothing is lost.
	auth.ActionDeleteProject: {
		gqlProbe(`mutation($p: ID!) { deleteProject(id: $p) }`, projectVars, "CONFLICT"),
		restProbe(http.MethodDelete, func(_ *testing.T, _ *doorMatrix, c doorCaller) string { return "/api/v2.0/projects/" + c.project }, "", http.StatusConflict),
	},
	auth.ActionPull: {
		registryProbe(http.MethodGet, func(_ *testing.T, _ *doorMatrix, c doorCaller) string {
			return "/v2/" + c.project + "/app/manifests/base"
		}, http.StatusOK),
		registryProbe(http.MethodGet, func(_ *testing.T, _ *doorMatrix, c doorCaller) string { return "/v2/" + c.project + "/app/tags/list" }, http.StatusOK),
		repoScope("pull"),
		withToken("pull", http.MethodGet, func(c doorCaller) string { return "/v2/" + c.project + "/app/manifests/base" }, http.StatusOK),
		// The manifest is what a pull reads; the artifact itself is visible with project:read.
		gqlBase("manifest"),
	},
	auth.ActionPush: {
		registryProbe(http.MethodPost, func(_ *testing.T, _ *doorMatrix, c doorCaller) string {
			return "/v2/" + c.project + "/app/blobs/uploads/"
		}, http.StatusAccepted),
		repoScope("push"),
		withToken("push", http.MethodPost, func(c doorCaller) string { return "/v2/" + c.project + "/app/blobs/uploads/" }, http.StatusAccepted),
	},
	auth.ActionDeleteArtifact: {
		repoScope("delete"),
		registryProbe(http.MethodDelete, func(t *testing.T, m *doorMatrix, c doorCaller) string {
			d, _, _ := m.fresh(t, c, "v2-del")
			return "/v2/" + c.project + "/app/manifests/" + d
		}, http.StatusAccepted),
		gqlProbe(`mutation($a: ID!) { deleteArtifact(id: $a) }`, func(t *testing.T, m *doorMatrix, c doorCaller) map[string]any {
			_, id, _ := m.fresh(t, c, "gql-del")
			return map[string]any{"a": id}
		}),
		restProbe(http.MethodDelete, func(t *testing.T, m *doorMatrix, c doorCaller) string {
			d, _, _ := m.fresh(t, c, "rest-del")
			return "/api/v2.0/projects/" + c.project + "/repositories/app/artifacts/" + d
		}, ""),
	},
	auth.ActionCreateTag: {
		gqlProbe(`mutation($a: ID!, $n: String!) { createTag(artifactID: $a, name: $n) { name } }`, func(_ *testing.T, m *doorMatrix, c doorCaller) map[string]any {
			return map[string]any{"a": m.baseIDs[c.project], "n": "made-by-" + c.slug()}
		}),
	},
	auth.ActionDeleteTag: {
		repoScope("delete"),
		registryProbe(http.MethodDelete, func(t *testing.T, m *doorMatrix, c doorCaller) string {
			_, _, tag := m.fresh(t, c, "v2-untag")
			return "/v2/" + c.project + "/app/manifests/" + tag
		}, http.StatusAccepted),
		gqlProbe(`mutation($id: ID!) { deleteTag(id: $id) }`, func(t *testing.T, m *doorMatrix, c doorCaller) map[string]any {
			d, _, tag := m.fresh(t, c, "gql-untag")
			return map[string]any{"id": m.tagID(t, c.project, d, tag)}
		}),
	},
	auth.ActionLabelArtifact: {
		gqlProbe(`mutation($a: ID!, $l: ID!) { addArtifactLabel(artifactID: $a, labelID: $l) { id } }`, func(t *testing.T, m *doorMatrix, c doorCaller) map[string]any {
			_, id, _ := m.fresh(t, c, "label")
			return map[string]any{"a": id, "l": m.labels[c.project]}
		}),
	},
	auth.ActionScan: {
		gqlProbe(`mutation($a: ID!) { stopScan(id: $a) }`, func(_ *testing.T, m *doorMatrix, c doorCaller) map[string]any {
			return map[string]any{"a": m.baseIDs[c.project]}
		}),
		restProbe(http.MethodPost, func(_ *testing.T, _ *doorMatrix, c doorCaller) string {
			return "/api/v2.0/projects/" + c.project + "/repositories/app/artifacts/base/scan/stop"
		}, ""),
	},
	auth.ActionReadScan: {
		gqlBase("scanOverview { severity }"),
	},
	auth.ActionExportCVE: {
		gqlProbe(`mutation($p: ID!) { exportCVE(input: {projects: [$p]}) { id } }`, projectVars),
	},
	auth.ActionReadLog: {
		gqlProbe(`query($p: ID) { auditLogs(projectID: $p, first: 1) { totalCount } }`, projectVars),
	},
	auth.ActionReadMembers: {gqlVisible("memberList { id }")},
	auth.ActionManageMembers: {
		{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
			res := m.gql(t, c, `mutation($p: ID!) { addMember(projectID: $p, username: "spare", role: GUEST) { id } }`, projectVars(t, m, c))
			m.undo(t, res, []string{"addMember", "id"}, `mutation($id: ID!) { removeMember(id: $id) }`)
			return gqlAnswer(c, res)
		}},
	},
	auth.ActionReadRobots: {
		gqlProbe(`query($p: ID) { robots(projectID: $p) { id } }`, projectVars),
		restProbe(http.MethodGet, func(_ *testing.T, m *doorMatrix, c doorCaller) string {
			return fmt.Sprintf("/api/v2.0/robots?q=Level=project,ProjectID=%d", m.projects[c.project])
		}, ""),
	},
	auth.ActionManageRobots: {
		{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
			res := m.gql(t, c, `mutation($p: ID, $n: String!, $ns: String!) { createRobot(input: {projectID: $p, name: $n,
				permissions: [{namespace: $ns, resource: "robot", action: "create"}]}) { robot { id } } }`,
				map[string]any{"p": m.projects[c.project], "n": "made-by-" + c.slug(), "ns": c.project})
			m.undo(t, res, []string{"createRobot", "robot", "id"}, `mutation($id: ID!) { deleteRobot(id: $id) }`)
			return gqlAnswer(c, res)
		}},
	},
	auth.ActionListWebhooks: {
		gqlProbe(`query($p: ID!) { webhookPolicies(projectID: $p) { id } }`, projectVars),
	},
	auth.ActionManageWebhooks: {
		gqlProbe(`mutation($id: ID!) { updateWebhookPolicy(id: $id, input: {enabled: true}) { id } }`, func(_ *testing.T, m *doorMatrix, c doorCaller) map[string]any {
			return map[string]any{"id": m.policies[c.project]}
		}),
	},
	// Project.quota is null for callers who may not read it.
	auth.ActionReadQuota: {
		{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
			res := m.gql(t, c, `query($n: String!) { project(name: $n) { quota { limit } } }`, map[string]any{"n": c.project})
			var d struct {
				Project *struct{ Quota *struct{ Limit int64 } }
			}
			if len(res.Errors) > 0 || json.Unmarshal(res.Data, &d) != nil {
				return gqlAnswer(c, res)
			}
			switch {
			case d.Project == nil:
				return answerHidden, string(res.Data)
			case d.Project.Quota == nil:
				return answerRefused, string(res.Data)
			}
			return answerAllowed, string(res.Data)
		}},
		restProbe(http.MethodGet, func(_ *testing.T, m *doorMatrix, c doorCaller) string {
			return fmt.Sprintf("/api/v2.0/quotas/%d", m.projects[c.project])
		}, ""),
	},
	auth.ActionUpdateQuota: {
		gqlProbe(`mutation($p: ID!) { setProjectQuota(projectID: $p, limit: -1) { limit } }`, projectVars),
		restProbe(http.MethodPut, func(_ *testing.T, m *doorMatrix, c doorCaller) string {
			return fmt.Sprintf("/api/v2.0/quotas/%d", m.projects[c.project])
		}, `{"hard": {"storage": -1}}`),
	},
	auth.ActionReadRetention: {
		gqlProbe(`query($p: ID!) { retentionPolicy(projectID: $p) { template } }`, projectVars),
		restProbe(http.MethodGet, func(_ *testing.T, m *doorMatrix, c doorCaller) string {
			return fmt.Sprintf("/api/v2.0/retentions/%d", m.projects[c.project])
		}, ""),
	},
	auth.ActionManageRetention: {
		gqlProbe(`mutation($p: ID!) { setRetentionPolicy(projectID: $p, rules: []) { template } }`, projectVars),
		restProbe(http.MethodPut, func(_ *testing.T, m *doorMatrix, c doorCaller) string {
			return fmt.Sprintf("/api/v2.0/retentions/%d", m.projects[c.project])
		}, `{"rules": []}`),
	},
	// A dry run of an empty policy: it reads and deletes nothing; a second caller meets the first's run.
	auth.ActionRunRetention: {
		gqlProbe(`mutation($p: ID!) { startRetention(projectID: $p, dryRun: true) { id } }`, projectVars, "CONFLICT"),
		restProbe(http.MethodPost, func(_ *testing.T, m *doorMatrix, c doorCaller) string {
			return fmt.Sprintf("/api/v2.0/retentions/%d/executions", m.projects[c.project])
		}, `{"dry_run": true}`, http.StatusConflict),
	},
	auth.ActionListImmutable: {
		gqlProbe(`query($p: ID!) { immutableRules(projectID: $p) { id } }`, projectVars),
		restProbe(http.MethodGet, func(_ *testing.T, _ *doorMatrix, c doorCaller) string {
			return "/api/v2.0/projects/" + c.project + "/immutabletagrules"
		}, ""),
	},
	// A disabled rule, removed again: it never protects a tag another probe moves.
	auth.ActionManageImmutable: {
		{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
			res := m.gql(t, c, `mutation($p: ID!) { createImmutableRule(projectID: $p, input: {repositoryPattern: "none", tagPattern: "none", disabled: true}) { id } }`,
				projectVars(t, m, c))
			m.undo(t, res, []string{"createImmutableRule", "id"}, `mutation($id: ID!) { deleteImmutableRule(id: $id) }`)
			return gqlAnswer(c, res)
		}},
	},
	auth.ActionManageLabels: {
		{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
			res := m.gql(t, c, `mutation($p: ID, $n: String!) { createLabel(input: {name: $n, projectID: $p}) { id } }`,
				map[string]any{"p": m.projects[c.project], "n": "made-by-" + c.slug()})
			m.undo(t, res, []string{"createLabel", "id"}, `mutation($id: ID!) { deleteLabel(id: $id) }`)
			return gqlAnswer(c, res)
		}},
	},
	auth.ActionManageTrustPolicy: {
		gqlProbe(`mutation($p: ID!) { reverifySignatures(projectID: $p) }`, projectVars),
	},
}

// systemProbes asks, for every system action, the doors that expose it.
var systemProbes = map[auth.Action][]doorProbe{
	auth.ActionCreateProject: {
		gqlProbe(`mutation($n: String!) { createProject(input: {name: $n}) { id } }`, func(_ *testing.T, _ *doorMatrix, c doorCaller) map[string]any {
			return map[string]any{"n": "gql-" + c.slug()}
		}),
		{door: "REST", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
			body, _ := json.Marshal(map[string]any{"project_name": "rest-" + c.slug()})
			status, _, b := m.do(t, http.MethodPost, "/api/v2.0/projects", c.authorization, body, "application/json")
			return restAnswer(c, status, b)
		}},
	},
	auth.ActionListUsers: {gqlProbe(`{ users(first: 1) { totalCount } }`, noVars)},
	auth.ActionManageUsers: {
		gqlProbe(`mutation($n: String!) { createUser(input: {username: $n, password: "Made-By-Probe-1"}) { id } }`, func(_ *testing.T, _ *doorMatrix, c doorCaller) map[string]any {
			return map[string]any{"n": "made-by-" + c.slug()}
		}),
	},
	auth.ActionReadScanners: {gqlProbe(`{ scanners { id } }`, noVars)},
	auth.ActionManageScanners: {
		gqlProbe(`mutation($id: ID!) { setScannerEnabled(id: $id, enabled: true) { id } }`, func(_ *testing.T, m *doorMatrix, _ doorCaller) map[string]any {
			return map[string]any{"id": m.scanner}
		}),
	},
	auth.ActionScanAll:         {gqlProbe(`mutation { scanAll }`, noVars)},
	auth.ActionManageAllowlist: {gqlProbe(`mutation { setSystemCVEAllowlist(cveIDs: []) }`, noVars)},
	auth.ActionReadRegistries: {
		gqlProbe(`{ registryEndpoints { total } }`, noVars),
		restProbe(http.MethodGet, func(*testing.T, *doorMatrix, doorCaller) string { return "/api/v2.0/registries" }, ""),
	},
	// A connection test of a closed port: allowed, it answers what failed (REST: 400).
	auth.ActionManageRegistries: {
		gqlProbe(`mutation { testRegistryEndpoint(input: {name: "probe", type: "docker-registry", url: "http://127.0.0.1:1"}) { ok } }`, noVars),
		restProbe(http.MethodPost, func(*testing.T, *doorMatrix, doorCaller) string { return "/api/v2.0/registries/ping" },
			`{"type": "docker-registry", "url": "http://127.0.0.1:1"}`, http.StatusBadRequest),
	},
	auth.ActionReadReplication: {
		gqlProbe(`{ replicationPolicies { total } }`, noVars),
		restProbe(http.MethodGet, func(*testing.T, *doorMatrix, doorCaller) string { return "/api/v2.0/replication/executions" }, ""),
	},
	// Stopping an execution that does not exist: allowed, it is not found.
	auth.ActionRunReplication: {
		gqlProbe(`mutation { stopReplication(id: 999999) { id } }`, noVars, "NOT_FOUND"),
		restProbe(http.MethodPut, func(*testing.T, *doorMatrix, doorCaller) string { return "/api/v2.0/replication/executions/999999" },
			"", http.StatusNotFound),
	},
	// Rotating mid-matrix is harmless by design: tokens already issued keep verifying.
	auth.ActionRotateSigningKey: {
		gqlProbe(`{ signingKeys { id } }`, noVars),
		gqlProbe(`mutation { rotateSigningKey { id } }`, noVars),
	},
	auth.ActionReadGC:    {gqlProbe(`{ gcSchedule { kind } }`, noVars)},
	auth.ActionRunGC:     {gqlProbe(`mutation { setGCSchedule(input: {kind: NONE}) { kind } }`, noVars)},
	auth.ActionReadPurge: {gqlProbe(`{ purgeRuns(first: 1) { totalCount } }`, noVars)},
	auth.ActionRunPurge: {
		gqlProbe(`mutation { setPurgeSchedule(input: {kind: NONE, retentionHours: 720, operations: []}) { kind } }`, noVars),
	},
	auth.ActionReadConfiguration: {gqlProbe(`{ auditSettings { logPulls } }`, noVars), gqlProbe(`{ quotaConfig { defaultLimit } }`, noVars)},
	auth.ActionUpdateConfig: {
		gqlProbe(`mutation { updateAuditSettings(input: {}) { logPulls } }`, noVars),
		gqlProbe(`mutation { setQuotaConfig(input: {defaultLimit: -1, warningPercent: 85}) { defaultLimit } }`, noVars),
	},
	auth.ActionReadQuota:    {restProbe(http.MethodGet, func(*testing.T, *doorMatrix, doorCaller) string { return "/api/v2.0/quotas" }, "")},
	auth.ActionReadAuditLog: {gqlProbe(`{ auditLogs(first: 1) { totalCount } }`, noVars)},
	// What a webhook receiver answered is blanked, not refused: the probe reads the answer to the
	// fixture's test delivery, which only callers who may list the project's webhooks can reach.
	auth.ActionReadDeliveryReply: {
		{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
			if d := m.decide(t, c, "priv", auth.ActionListWebhooks); d != auth.Allowed {
				return answerSkip, "may not list the webhook's deliveries"
			}
			res := m.gql(t, c, `query($id: ID!) { webhookPolicy(id: $id) { deliveries(first: 1) { edges { node { responseExcerpt } } } } }`,
				map[string]any{"id": m.policies["priv"]})
			var d struct {
				WebhookPolicy struct {
					Deliveries struct {
						Edges []struct {
							Node struct{ ResponseExcerpt string }
						}
					}
				}
			}
			if len(res.Errors) > 0 || json.Unmarshal(res.Data, &d) != nil || len(d.WebhookPolicy.Deliveries.Edges) != 1 {
				return doorAnswer("unexpected " + res.Code()), fmt.Sprintf("%s %+v", res.Data, res.Errors)
			}
			if d.WebhookPolicy.Deliveries.Edges[0].Node.ResponseExcerpt == "" {
				return answerRefused, string(res.Data)
			}
			return answerAllowed, string(res.Data)
		}},
	},
	auth.ActionListCatalog: {
		registryProbe(http.MethodGet, func(*testing.T, *doorMatrix, doorCaller) string { return "/v2/_catalog" }, http.StatusOK),
		tokenProbe(func(doorCaller) string { return "registry:catalog:*" }, func(g []string) bool { return slices.Equal(g, []string{"registry:catalog:*"}) }),
	},
	auth.ActionManageLabels: {
		{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
			res := m.gql(t, c, `mutation($n: String!) { createLabel(input: {name: $n}) { id } }`, map[string]any{"n": "system-by-" + c.slug()})
			m.undo(t, res, []string{"createLabel", "id"}, `mutation($id: ID!) { deleteLabel(id: $id) }`)
			return gqlAnswer(c, res)
		}},
	},
	auth.ActionManageRobots: {
		{door: "GraphQL", try: func(t *testing.T, m *doorMatrix, c doorCaller) (doorAnswer, string) {
			res := m.gql(t, c, `mutation($n: String!) { createRobot(input: {name: $n,
				permissions: [{namespace: "*", resource: "repository", action: "pull"}]}) { robot { id } } }`,
				map[string]any{"n": "system-by-" + c.slug()})
			m.undo(t, res, []string{"createRobot", "robot", "id"}, `mutation($id: ID!) { deleteRobot(id: $id) }`)
			return gqlAnswer(c, res)
		}},
	},
	auth.ActionManageTrustPolicy: {gqlProbe(`mutation { reverifySignatures }`, noVars)},
	auth.ActionReadRobots: {
		gqlProbe(`{ robots { id } }`, noVars),
		restProbe(http.MethodGet, func(*testing.T, *doorMatrix, doorCaller) string { return "/api/v2.0/robots" }, ""),
	},
}

// askedOnlyByMyPermissions are the actions no door refuses outright, with the reason; they are
// still checked against myPermissions. A new row belongs in the probes above, not here.
var askedOnlyByMyPermissions = map[auth.Action]string{
	// The events subscription leaves system events out of the stream of those who may not read
	// them (TestEventSubscriptionSeesPushesItMaySee covers what reaches whom).
	auth.ActionReadSystemEvents: "filters a subscription's stream",
}

// TestDoorsAnswerAsDecide is the door matrix: auth.Decide is the one access decision, and every
// door that exposes an action (/v2, the token service, GraphQL, REST, myPermissions) must give its
// answer, for every caller of the matrix (see callers). The test walks the role table itself (auth.ProjectActions, auth.SystemActions), so a new row fails here until it
// has a probe: an action no door is asked about is an action nobody has checked a door honours.
//
// It is the companion of TestPermissionMatrixOnRegistryGraphQLAndREST, which writes the expected
// answers out by hand (so that the table itself is held to the spec); here the expectation is
// whatever Decide answers, and only the doors are under test.
func TestDoorsAnswerAsDecide(t *testing.T) {
	t.Parallel()
	for scope, probes := range map[string]struct {
		actions []auth.Action
		probes  map[auth.Action][]doorProbe
	}{"project": {auth.ProjectActions, projectProbes}, "system": {auth.SystemActions, systemProbes}} {
		for _, a := range probes.actions {
			if len(probes.probes[a]) == 0 && askedOnlyByMyPermissions[a] == "" {
				t.Errorf("%s action %s has no door probe: add one (what GraphQL, REST or /v2 operation needs it?)", scope, a)
			}
		}
		for a := range probes.probes {
			if !slices.Contains(probes.actions, a) {
				t.Errorf("a %s probe asks about %s, which the role table does not have", scope, a)
			}
		}
	}
	if t.Failed() {
		return
	}

	m := setupDoorMatrix(t)
	callers, systemCallers, robots := m.callers(t)

	for _, a := range auth.ProjectActions {
		t.Run(string(a), func(t *testing.T) {
			t.Parallel()
			for _, c := range append(slices.Clone(callers), robots[a]) {
				m.check(t, c, c.project, a, projectProbes[a])
			}
		})
	}
	for _, a := range auth.SystemActions {
		t.Run("system "+string(a), func(t *testing.T) {
			t.Parallel()
			for _, c := range systemCallers {
				m.check(t, c, "", a, systemProbes[a])
			}
		})
	}
	t.Run("myPermissions", func(t *testing.T) {
		t.Parallel()
		all := slices.Clone(callers)
		for _, a := range auth.ProjectActions {
			all = append(all, robots[a])
		}
		for _, c := range all {
			m.checkMyPermissions(t, c, c.project, auth.ProjectActions)
		}
		for _, c := range systemCallers {
			m.checkMyPermissions(t, c, "", auth.SystemActions)
		}
	})
}

// check asks every probe of action as c and compares each door's answer with Decide's.
func (m *doorMatrix) check(t *testing.T, c doorCaller, project string, action auth.Action, probes []doorProbe) {
	t.Helper()
	d := m.decide(t, c, project, action)
	for _, p := range probes {
		want := map[auth.Decision]doorAnswer{auth.Allowed: answerAllowed, auth.Hidden: answerHidden, auth.Refused: answerRefused}[d]
		if p.folds && want == answerHidden {
			want = answerRefused
		}
		got, detail := p.try(t, m, c)
		if got != answerSkip && got != want {
			t.Errorf("%s: %s for %s: Decide says %s, the door says %s: %s", p.door, action, c.name, d, got, detail)
		}
	}
}

// checkMyPermissions compares myPermissions with Decide for every action of the scope.
func (m *doorMatrix) checkMyPermissions(t *testing.T, c doorCaller, project string, actions []auth.Action) {
	t.Helper()
	var vars map[string]any
	if project != "" {
		vars = map[string]any{"p": m.projects[project]}
	}
	res := m.gql(t, c, `query($p: ID) { myPermissions(projectID: $p) }`, vars)
	var got struct{ MyPermissions []string }
	if len(res.Errors) > 0 || json.Unmarshal(res.Data, &got) != nil {
		t.Fatalf("myPermissions as %s: %s %+v", c.name, res.Data, res.Errors)
	}
	var want []string
	for _, a := range actions {
		if m.decide(t, c, project, a) == auth.Allowed {
			want = append(want, string(a))
		}
	}
	slices.Sort(want)
	slices.Sort(got.MyPermissions)
	if !slices.Equal(got.MyPermissions, want) {
		t.Errorf("myPermissions(%q) for %s = %v, Decide allows %v", project, c.name, got.MyPermissions, want)
	}
	if project == "" {
		return
	}
	// Project.myPermissions, batched over a page of projects, answers the same.
	res = m.gql(t, c, `{ projects(first: 100) { edges { node { id myPermissions } } } }`, nil)
	var page struct {
		Projects struct {
			Edges []struct {
				Node struct {
					ID            string
					MyPermissions []string
				}
			}
		}
	}
	if len(res.Errors) > 0 || json.Unmarshal(res.Data, &page) != nil {
		t.Fatalf("projects { myPermissions } as %s: %s %+v", c.name, res.Data, res.Errors)
	}
	for _, e := range page.Projects.Edges {
		if e.Node.ID != strconv.Itoa(m.projects[project]) {
			continue
		}
		slices.Sort(e.Node.MyPermissions)
		if !slices.Equal(e.Node.MyPermissions, want) {
			t.Errorf("project %q { myPermissions } for %s = %v, Decide allows %v", project, c.name, e.Node.MyPermissions, want)
		}
	}
}

// setupDoorMatrix starts the server and arranges a private project with a member of each role and a
// public one with no members, each with an image, a label and a webhook policy.
func setupDoorMatrix(t *testing.T) *doorMatrix {
	env := servertest.Start(t)
	tokens := env.Server.Tokens().WithTTL(time.Hour)
	m := &doorMatrix{
		permFixture: &permFixture{env: env, projects: map[string]int{}, labels: map[string]string{}, base: map[string]string{}},
		decider:     auth.NewService(env.DB, tokens, time.Hour),
		policies:    map[string]int{}, baseIDs: map[string]string{}, principals: map[string]*auth.Principal{},
		manifests: map[string][]byte{},
	}
	m.adminGQL = m.token(t, "")
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("pong")) }))
	t.Cleanup(receiver.Close)
	m.projects["priv"] = env.CreateProject("priv", false)
	m.projects["pub"] = env.CreateProject("pub", true)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	for name, id := range m.projects {
		ref := env.Host + "/" + name + "/app:base"
		if out, err := crane("append", "--oci-empty-base", "-f", layerTar(t, "base.txt", name), "-t", ref); err != nil {
			t.Fatalf("push %s: %v\n%s", ref, err, out)
		}
		var a struct{ Artifact struct{ ID, Digest string } }
		m.admin(t, `query($r: String!) { artifact(repository: $r, reference: "base") { id digest } }`, map[string]any{"r": name + "/app"}, &a)
		m.base[name], m.baseIDs[name] = a.Artifact.Digest, a.Artifact.ID
		status, _, manifest := m.do(t, http.MethodGet, "/v2/"+name+"/app/manifests/base", permAdmin.authorization(), nil, "")
		if status != http.StatusOK {
			t.Fatalf("get %s: %d %s", ref, status, manifest)
		}
		m.manifests[name] = manifest
		var l struct{ CreateLabel struct{ ID string } }
		m.admin(t, `mutation($p: ID) { createLabel(input: {name: "prod", projectID: $p}) { id } }`, map[string]any{"p": id}, &l)
		m.labels[name] = l.CreateLabel.ID
		var w struct {
			CreateWebhookPolicy struct{ Policy struct{ ID string } }
		}
		m.admin(t, `mutation($p: ID!, $u: String!) { createWebhookPolicy(input: {projectID: $p, name: "hook", eventTypes: [ARTIFACT_PUSHED], address: $u}) { policy { id } } }`,
			map[string]any{"p": id, "u": receiver.URL}, &w)
		m.policies[name], _ = strconv.Atoi(w.CreateWebhookPolicy.Policy.ID)
		// Creating the project made admin its project admin: drop that, so that admin stands for
		// the system administrator alone.
		var p struct {
			Project struct {
				MemberList []struct {
					ID   string
					User struct{ Username string }
				}
			}
		}
		m.admin(t, `query($n: String!) { project(name: $n) { memberList { id user { username } } } }`, map[string]any{"n": name}, &p)
		for _, mb := range p.Project.MemberList {
			m.admin(t, `mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": mb.ID}, nil)
		}
	}
	m.adminV2 = m.token(t, "&scope=repository:priv/app:pull,push&scope=repository:pub/app:pull,push")
	// One delivery whose receiver answered, for webhook-response:read.
	var sent struct{ TestWebhookPolicy struct{ ID string } }
	m.admin(t, `mutation($id: ID!) { testWebhookPolicy(id: $id) { id } }`, map[string]any{"id": m.policies["priv"]}, &sent)
	deliveryID, _ := strconv.Atoi(sent.TestWebhookPolicy.ID)
	for deadline := time.Now().Add(30 * time.Second); ; {
		d, err := env.DB.WebhookDelivery.Get(context.Background(), deliveryID)
		if err == nil && d.ResponseExcerpt != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test delivery was not answered within 30 s: %+v %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var s struct{ Scanners []struct{ ID string } }
	m.admin(t, `{ scanners { id } }`, nil, &s)
	if len(s.Scanners) == 0 {
		t.Fatal("no scanner registered")
	}
	m.scanner = s.Scanners[0].ID
	env.CreateUser("spare", "spare-password")
	return m
}

// callers makes the principals: a member of each role in "priv", a signed-in non-member, the
// anonymous in "pub", the system administrator; for the system actions also a robot; and for each
// project action a robot holding only that permission in "priv".
func (m *doorMatrix) callers(t *testing.T) (project, system []doorCaller, robots map[auth.Action]doorCaller) {
	basic := func(user, password string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, password)
		return req.Header.Get("Authorization")
	}
	for _, role := range auth.Roles {
		user := strings.ReplaceAll(string(role), "_", "-")
		m.env.CreateUser(user, user+"-password")
		m.env.AddMember(m.projects["priv"], user, string(role))
		project = append(project, doorCaller{name: string(role), authorization: basic(user, user+"-password"), project: "priv"})
	}
	m.env.CreateUser("outsider", "outsider-password")
	outsider := doorCaller{name: "non-member", authorization: basic("outsider", "outsider-password"), project: "priv"}
	admin := doorCaller{name: "system admin", authorization: permAdmin.authorization(), project: "priv"}
	anonymous := doorCaller{name: "anonymous", project: "pub"}
	project = append(project, outsider, anonymous, admin)

	robots = map[auth.Action]doorCaller{}
	for _, a := range auth.ProjectActions {
		resource, verb, _ := strings.Cut(string(a), ":")
		var out struct {
			CreateRobot struct {
				Robot  struct{ Name string }
				Secret string
			}
		}
		m.admin(t, `mutation($p: ID, $n: String!, $r: String!, $a: String!) { createRobot(input: {projectID: $p, name: $n,
			permissions: [{namespace: "priv", resource: $r, action: $a}]}) { robot { name } secret } }`,
			map[string]any{"p": m.projects["priv"], "n": "only-" + resource + "-" + verb, "r": resource, "a": verb}, &out)
		robots[a] = doorCaller{name: out.CreateRobot.Robot.Name, authorization: basic(out.CreateRobot.Robot.Name, out.CreateRobot.Secret), project: "priv"}
	}
	// The project admin is an ordinary user at system level, and one who may read the webhook's
	// deliveries (but not what their receiver answered).
	system = []doorCaller{admin, project[0], outsider, robots[auth.ActionPull], anonymous}
	return project, system, robots
}
