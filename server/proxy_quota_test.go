package server_test

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/blob"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/server/servertest"
)

// A proxy-cache project's quota holds for its fills as for pushes: a manifest whose image would
// pass the limit is refused with 403 DENIED naming the quota, and nothing of it (manifest, config)
// is stored or counted; so is a blob fetched by digest alone, before the client gets a byte. An
// image that fits is filled, and counted.
func TestProxyCacheFillRespectsQuota(t *testing.T) {
	t.Parallel()
	dist := newDistribution(t)
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	plain := setupCrane(t, &servertest.Env{Host: dist.addr}, "", "")
	pushImage(t, plain, dist.addr+"/library/big:v1", 512<<10)
	small := pushImage(t, plain, dist.addr+"/library/small:v1", 2<<10)
	bigManifest, err := plain("manifest", dist.addr+"/library/big:v1")
	if err != nil {
		t.Fatal(err)
	}
	bigBlobs := blobDigests(t, bigManifest)

	reg := mustCreate(t, env, "/registries", map[string]any{"name": "dist", "type": "docker-registry", "url": dist.URL})
	createProxyProject(t, env, "pq", reg, "library", 0)
	proj := env.DB.Project.Query().Where(project.Name("pq")).OnlyX(t.Context())
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID!, $l: Int!) { setProjectQuota(projectID: $p, limit: $l) { limit } }`,
		map[string]any{"p": proj.ID, "l": 64 << 10}, nil)

	refused := func(what, out string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(out+err.Error(), "DENIED") || !strings.Contains(out+err.Error(), "quota exceeded: project pq") {
			t.Fatalf("%s: %v %s; want 403 DENIED quota exceeded", what, err, out)
		}
	}
	out, err := crane("manifest", env.Host+"/pq/big:v1")
	refused("a manifest fill past the quota", out, err)
	out, err = crane("blob", env.Host+"/pq/big@"+bigBlobs[1])
	refused("a blob fill past the quota", out, err)
	if n := env.DB.Artifact.Query().Where(artifact.HasRepositoryWith(repository.Name("pq/big"))).CountX(t.Context()); n != 0 {
		t.Fatalf("a refused fill indexed %d artifacts", n)
	}
	for _, d := range bigBlobs {
		if n := env.DB.Blob.Query().Where(blob.Digest(d)).CountX(t.Context()); n != 0 {
			t.Fatalf("a refused fill stored blob %s", d)
		}
	}
	if p := env.DB.Project.GetX(t.Context(), proj.ID); p.QuotaUsed != 0 || p.QuotaReserved != 0 {
		t.Fatalf("after refused fills: used %d, reserved %d; want 0, 0", p.QuotaUsed, p.QuotaReserved)
	}

	// What fits is filled (and counted, layers included, when its manifest is).
	if out, err := crane("pull", env.Host+"/pq/small:v1", t.TempDir()+"/small.tar"); err != nil {
		t.Fatalf("pull an image within the quota: %v %s", err, out)
	}
	if got, err := crane("digest", env.Host+"/pq/small:v1"); err != nil || strings.TrimSpace(got) != small {
		t.Fatalf("pq/small:v1 = %q %v, want %s", got, err, small)
	}
	if p := env.DB.Project.GetX(t.Context(), proj.ID); p.QuotaUsed == 0 || p.QuotaUsed > 64<<10 || p.QuotaReserved != 0 {
		t.Fatalf("after a fill within the quota: used %d, reserved %d", p.QuotaUsed, p.QuotaReserved)
	}
}
