package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/berth-registry/berth/server/servertest"
)

// Harbor's list endpoints answer one page, with the size of the whole list in X-Total-Count.
func TestRESTListsArePagesWithTotals(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	ctx := t.Context()
	api := env.URL + "/api/v2.0"
	id := env.CreateProject("paged", false)
	for i := range 3 {
		repo := env.DB.Repository.Create().SetName(fmt.Sprintf("paged/r%d", i)).SetProjectID(id).SaveX(ctx)
		for j := range i {
			env.DB.Artifact.Create().SetRepositoryID(repo.ID).SetDigest(fmt.Sprintf("sha256:%064d", 10*i+j)).
				SetMediaType("application/vnd.oci.image.manifest.v1+json").ExecX(ctx)
		}
	}
	get := func(path string, out any) http.Header {
		t.Helper()
		a := send(t, http.MethodGet, api+path, "admin", servertest.AdminPassword, nil, nil)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, a.status, a.body)
		}
		if err := json.Unmarshal(a.body, out); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, a.body)
		}
		return a.header
	}

	var projects []map[string]any
	if h := get("/projects?page_size=1", &projects); h.Get("X-Total-Count") != "2" || len(projects) != 1 {
		t.Fatalf("projects: %d of X-Total-Count %q; want 1 of 2 (library, paged)", len(projects), h.Get("X-Total-Count"))
	}
	var repos []struct {
		Name          string `json:"name"`
		ArtifactCount int    `json:"artifact_count"`
	}
	if h := get("/projects/paged/repositories?page=2&page_size=2", &repos); h.Get("X-Total-Count") != "3" ||
		len(repos) != 1 || repos[0].Name != "paged/r2" || repos[0].ArtifactCount != 2 {
		t.Fatalf("second page of repositories = %+v, X-Total-Count %q; want paged/r2 with 2 artifacts, of 3", repos, h.Get("X-Total-Count"))
	}
	var arts []map[string]any
	if h := get("/projects/paged/repositories/r2/artifacts?page_size=1", &arts); h.Get("X-Total-Count") != "2" || len(arts) != 1 {
		t.Fatalf("artifacts: %d of X-Total-Count %q; want 1 of 2", len(arts), h.Get("X-Total-Count"))
	}
	a := send(t, http.MethodGet, api+"/projects/paged/repositories?page_size=101", "admin", servertest.AdminPassword, nil, nil)
	if a.status != http.StatusBadRequest {
		t.Fatalf("page_size=101: %d %s; want 400", a.status, a.body)
	}
}
