package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/server/servertest"
)

// setupCrane returns a crane runner logged in to env as user.
func setupCrane(t *testing.T, env *servertest.Env, user, password string) func(args ...string) (string, error) {
	t.Helper()
	crane := servertest.Tool(t, "crane")
	cfgDir := t.TempDir()
	vars := []string{"DOCKER_CONFIG=" + cfgDir}
	if user != "" {
		servertest.Run(t, vars, crane, "auth", "login", env.Host, "-u", user, "-p", password, "--insecure")
	}
	return func(args ...string) (string, error) {
		return servertest.RunErr(vars, crane, append(args, "--insecure")...)
	}
}

// layerTar writes a one-file tar archive, a layer crane can append.
func layerTar(t *testing.T, name, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "layer.tar")
	servertest.Run(t, nil, "tar", "-C", dir, "-cf", tarPath, name)
	return tarPath
}

func TestCranePushPullListDelete(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	ref := env.Host + "/library/hello:v1"

	if out, err := crane("append", "-f", layerTar(t, "hello.txt", "hello"), "-t", ref); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	out, err := crane("ls", env.Host+"/library/hello")
	if err != nil || strings.TrimSpace(out) != "v1" {
		t.Fatalf("ls = %q, %v; want v1", out, err)
	}
	out, err = crane("catalog", env.Host)
	if err != nil || !strings.Contains(out, "library/hello") {
		t.Fatalf("catalog = %q, %v", out, err)
	}
	digest, err := crane("digest", ref)
	if err != nil {
		t.Fatalf("digest: %v %s", err, digest)
	}
	digest = strings.TrimSpace(digest)
	if out, err := crane("pull", ref, filepath.Join(t.TempDir(), "img.tar")); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}

	// The push is indexed: GraphQL sees the artifact with its tag and size.
	var got struct {
		Artifact struct {
			Digest string `json:"digest"`
			Size   int    `json:"size"`
			Tags   []struct {
				Name string `json:"name"`
			} `json:"tags"`
		} `json:"artifact"`
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ artifact(repository: "library/hello", reference: "v1") { digest size tags { name } } }`, nil, &got)
	if got.Artifact.Digest != digest || len(got.Artifact.Tags) != 1 || got.Artifact.Tags[0].Name != "v1" || got.Artifact.Size == 0 {
		t.Fatalf("indexed artifact = %+v, want digest %s tagged v1", got.Artifact, digest)
	}

	if out, err := crane("delete", env.Host+"/library/hello@"+digest); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if _, err := crane("manifest", ref); err == nil {
		t.Fatal("manifest still served after delete")
	}
	n, err := env.DB.Artifact.Query().Count(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("artifacts in index after delete = %d, %v; want 0", n, err)
	}
}

func TestPullsAreCounted(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	ref := env.Host + "/library/counted:v1"
	if out, err := crane("append", "-f", layerTar(t, "a", "a"), "-t", ref); err != nil {
		t.Fatalf("push: %v %s", err, out)
	}
	digest, _ := crane("digest", ref) // a HEAD: not a pull
	for range 3 {
		if out, err := crane("manifest", ref); err != nil {
			t.Fatalf("manifest: %v %s", err, out)
		}
	}
	if out, err := crane("manifest", env.Host+"/library/counted@"+strings.TrimSpace(digest)); err != nil {
		t.Fatalf("manifest by digest: %v %s", err, out)
	}
	// Pull statistics are written within about a second, off the request path.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := env.DB.Artifact.Query().OnlyX(t.Context())
		repo := env.DB.Repository.Query().OnlyX(t.Context())
		if a.PullCount == 4 && repo.PullCount == 4 && a.PullTime != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("artifact pull count %d (time %v), repository %d; want 4, 4", a.PullCount, a.PullTime, repo.PullCount)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// storageUsed counts each blob once however many artifacts share it, and is what the storage
// actually holds: the sum of the blob files on disk.
func TestProjectStorageUsedMatchesStorage(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	base := env.Host + "/library/app:v1"
	if out, err := crane("append", "-f", layerTar(t, "a.txt", strings.Repeat("a", 5000)), "-t", base); err != nil {
		t.Fatalf("push v1: %v\n%s", err, out)
	}
	// v2 shares v1's layer and adds one; a second repository holds the same image again.
	if out, err := crane("append", "-b", base, "-f", layerTar(t, "b.txt", strings.Repeat("b", 7000)), "-t", env.Host+"/library/app:v2"); err != nil {
		t.Fatalf("push v2: %v\n%s", err, out)
	}
	if out, err := crane("copy", base, env.Host+"/library/copy:v1"); err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}

	var onDisk int64
	err := filepath.WalkDir(filepath.Join(env.DataDir, "registry"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "data" && strings.Contains(path, string(filepath.Separator)+"blobs"+string(filepath.Separator)) {
			info, err := d.Info()
			if err != nil {
				return err
			}
			onDisk += info.Size()
		}
		return nil
	})
	if err != nil || onDisk == 0 {
		t.Fatalf("walking storage: %d bytes, %v", onDisk, err)
	}
	var got struct {
		Project struct{ StorageUsed int64 }
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ project(name: "library") { storageUsed } }`, nil, &got)
	if got.Project.StorageUsed != onDisk {
		t.Fatalf("storageUsed = %d, storage holds %d bytes of blobs", got.Project.StorageUsed, onDisk)
	}
}

// A DELETE of a repository's last manifest over /v2 drops the repository's row, as a delete from
// the dashboard does, so the emptied project can be deleted.
func TestCraneDeleteOfTheLastManifestEmptiesTheProject(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	var created struct {
		CreateProject struct {
			ID string `json:"id"`
		} `json:"createProject"`
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation { createProject(input: {name: "gone"}) { id } }`, nil, &created)
	ref := env.Host + "/gone/app:v1"
	if out, err := crane("append", "-f", layerTar(t, "a.txt", "a"), "-t", ref); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	dgst, err := crane("digest", ref)
	if err != nil {
		t.Fatalf("digest: %v %s", err, dgst)
	}
	if out, err := crane("delete", env.Host+"/gone/app@"+strings.TrimSpace(dgst)); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if n := env.DB.Repository.Query().CountX(t.Context()); n != 0 {
		t.Fatalf("repositories after the last manifest's delete = %d, want 0", n)
	}
	var deleted struct {
		DeleteProject bool `json:"deleteProject"`
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { deleteProject(id: $id) }`,
		map[string]any{"id": created.CreateProject.ID}, &deleted)
	if !deleted.DeleteProject {
		t.Fatal("deleteProject = false after the project was emptied")
	}
}
