package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/server/servertest"
)

// runIn runs a command in dir and returns its standard output; a failure fails the test with
// both streams.
func runIn(t *testing.T, dir string, vars []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), vars...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// getJSON GETs url as admin and decodes a 200 answer into out, returning the response headers.
func getJSON(t *testing.T, url string, out any) http.Header {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.Header
}

// referrersIndex is the part of an OCI referrers answer the tests read.
type referrersIndex struct {
	MediaType string `json:"mediaType"`
	Manifests []struct {
		Digest       string `json:"digest"`
		ArtifactType string `json:"artifactType"`
		Size         int64  `json:"size"`
	} `json:"manifests"`
}

func TestOrasPushPullAttachDiscover(t *testing.T) {
	t.Parallel()
	oras := servertest.Tool(t, "oras")
	env := servertest.Start(t)
	work := t.TempDir()
	vars := []string{"HOME=" + t.TempDir()} // oras keeps its own state under HOME
	regCfg := filepath.Join(t.TempDir(), "auth.json")
	common := []string{"--plain-http", "--registry-config", regCfg}
	runIn(t, work, vars, oras, append([]string{"login", env.Host, "-u", "admin", "-p", servertest.AdminPassword}, common...)...)
	ref := env.Host + "/library/notes:v1"

	const noteType = "application/vnd.berth.test.note"
	content := "a note that travels as an OCI artifact\n"
	if err := os.WriteFile(filepath.Join(work, "note.txt"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var pushed struct {
		Digest       string `json:"digest"`
		ArtifactType string `json:"artifactType"`
	}
	out := runIn(t, work, vars, oras, append([]string{"push", ref, "--artifact-type", noteType, "--format", "json", "note.txt:text/plain"}, common...)...)
	if err := json.Unmarshal([]byte(out), &pushed); err != nil || !strings.HasPrefix(pushed.Digest, "sha256:") {
		t.Fatalf("oras push output %q: %v", out, err)
	}

	// The index records the artifact type, so the dashboard can tell a note from an image.
	var got struct {
		Artifact struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"artifact"`
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ artifact(repository: "library/notes", reference: "v1") { digest artifactType } }`, nil, &got)
	if got.Artifact.Digest != pushed.Digest || got.Artifact.ArtifactType != noteType {
		t.Fatalf("indexed artifact = %+v, want %s of type %s", got.Artifact, pushed.Digest, noteType)
	}

	pullDir := t.TempDir()
	runIn(t, work, vars, oras, append([]string{"pull", ref, "-o", pullDir}, common...)...)
	pulled, err := os.ReadFile(filepath.Join(pullDir, "note.txt"))
	if err != nil || string(pulled) != content {
		t.Fatalf("pulled note.txt = %q, %v; want %q", pulled, err, content)
	}

	// A referrer attached to the note, by the subject's tag.
	const sigType = "application/vnd.berth.test.signature"
	if err := os.WriteFile(filepath.Join(work, "sig.txt"), []byte("signed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var attached struct {
		Digest string `json:"digest"`
	}
	out = runIn(t, work, vars, oras, append([]string{"attach", ref, "--artifact-type", sigType, "--format", "json", "sig.txt:text/plain"}, common...)...)
	if err := json.Unmarshal([]byte(out), &attached); err != nil || !strings.HasPrefix(attached.Digest, "sha256:") {
		t.Fatalf("oras attach output %q: %v", out, err)
	}

	var idx referrersIndex
	h := getJSON(t, env.URL+"/v2/library/notes/referrers/"+pushed.Digest, &idx)
	if h.Get("Content-Type") != "application/vnd.oci.image.index.v1+json" || len(idx.Manifests) != 1 ||
		idx.Manifests[0].Digest != attached.Digest || idx.Manifests[0].ArtifactType != sigType || idx.Manifests[0].Size == 0 {
		t.Fatalf("referrers of %s = %+v (Content-Type %q), want only %s of type %s", pushed.Digest, idx, h.Get("Content-Type"), attached.Digest, sigType)
	}
	// Filtered by another type: nothing, and the filter is reported as applied.
	idx = referrersIndex{}
	h = getJSON(t, env.URL+"/v2/library/notes/referrers/"+pushed.Digest+"?artifactType=application/vnd.other", &idx)
	if len(idx.Manifests) != 0 || h.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("referrers filtered by another type = %+v (OCI-Filters-Applied %q), want none, filter applied", idx, h.Get("OCI-Filters-Applied"))
	}

	// oras discover sees it through the referrers API too.
	var discovered struct {
		Referrers []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"referrers"`
	}
	out = runIn(t, work, vars, oras, append([]string{"discover", ref, "--format", "json"}, common...)...)
	if err := json.Unmarshal([]byte(out), &discovered); err != nil {
		t.Fatalf("oras discover output %q: %v", out, err)
	}
	if len(discovered.Referrers) != 1 || discovered.Referrers[0].Digest != attached.Digest || discovered.Referrers[0].ArtifactType != sigType {
		t.Fatalf("oras discover = %s, want only %s", out, attached.Digest)
	}

	// Only a signature makes the artifact signed: a note referrer does not, a Notation one does.
	signed := func() bool {
		var out struct{ Artifact struct{ Signed bool } }
		env.MustGraphQL("admin", servertest.AdminPassword, `{ artifact(repository: "library/notes", reference: "v1") { signed } }`, nil, &out)
		return out.Artifact.Signed
	}
	if signed() {
		t.Fatal("an artifact with only a note referrer is reported signed")
	}
	runIn(t, work, vars, oras, append([]string{"attach", ref, "--artifact-type", "application/vnd.cncf.notary.signature", "sig.txt:application/jose+json"}, common...)...)
	if !signed() {
		t.Fatal("an artifact with a Notation signature is not reported signed")
	}

	// The manifest field is the manifest as the registry serves it.
	var m struct{ Artifact struct{ Manifest string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `{ artifact(repository: "library/notes", reference: "v1") { manifest } }`, nil, &m)
	if digest.FromString(m.Artifact.Manifest).String() != pushed.Digest {
		t.Fatalf("manifest field does not hash to %s: %s", pushed.Digest, m.Artifact.Manifest)
	}
}

func TestSkopeoCopiesLayoutsIntoBerth(t *testing.T) {
	t.Parallel()
	skopeo := servertest.Tool(t, "skopeo")
	env := servertest.Start(t)
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)
	src := env.Host + "/library/source:v1"
	if out, err := crane("append", "-f", layerTar(t, "hello.txt", "hello from skopeo"), "-t", src); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	srcDigest, err := crane("digest", src)
	if err != nil {
		t.Fatalf("digest: %v %s", err, srcDigest)
	}
	srcDigest = strings.TrimSpace(srcDigest)
	srcConfig, err := crane("config", src)
	if err != nil {
		t.Fatalf("config: %v %s", err, srcConfig)
	}

	layout := filepath.Join(t.TempDir(), "layout")
	if out, err := crane("pull", "--format=oci", src, layout); err != nil {
		t.Fatalf("pull as OCI layout: %v\n%s", err, out)
	}
	archive := filepath.Join(t.TempDir(), "image.tar")
	if out, err := crane("pull", src, archive); err != nil { // a docker-archive tarball
		t.Fatalf("pull as tarball: %v\n%s", err, out)
	}

	vars := []string{"HOME=" + t.TempDir()}
	creds := "admin:" + servertest.AdminPassword
	for _, c := range []struct {
		name, from string
		sameDigest bool // an OCI layout is copied byte for byte; an archive is re-assembled
	}{
		{"oci-layout", "oci:" + layout, true},
		{"docker-archive", "docker-archive:" + archive, false},
	} {
		dest := env.Host + "/library/copied:" + c.name
		runIn(t, t.TempDir(), vars, skopeo, "copy", "--dest-tls-verify=false", "--dest-creds", creds, c.from, "docker://"+dest)

		var inspected struct {
			Name   string   `json:"Name"`
			Digest string   `json:"Digest"`
			Layers []string `json:"Layers"`
		}
		out := runIn(t, t.TempDir(), vars, skopeo, "inspect", "--tls-verify=false", "--creds", creds, "docker://"+dest)
		if err := json.Unmarshal([]byte(out), &inspected); err != nil {
			t.Fatalf("%s: skopeo inspect output %q: %v", c.name, out, err)
		}
		if inspected.Name != env.Host+"/library/copied" || len(inspected.Layers) != 1 {
			t.Fatalf("%s: skopeo inspect = %s, want library/copied with one layer", c.name, out)
		}
		if c.sameDigest && inspected.Digest != srcDigest {
			t.Fatalf("%s: copied digest %s, want the source's %s", c.name, inspected.Digest, srcDigest)
		}
		// Whatever the route, the image config arrives unchanged.
		cfg, err := crane("config", dest)
		if err != nil || cfg != srcConfig {
			t.Fatalf("%s: copied config = %q, %v; want %q", c.name, cfg, err, srcConfig)
		}
		// And the push went through the index.
		var got struct {
			Artifact *struct {
				Digest string `json:"digest"`
			} `json:"artifact"`
		}
		env.MustGraphQL("admin", servertest.AdminPassword, `query($r: String!) { artifact(repository: "library/copied", reference: $r) { digest } }`,
			map[string]any{"r": c.name}, &got)
		if got.Artifact == nil || got.Artifact.Digest != inspected.Digest {
			t.Fatalf("%s: indexed artifact = %+v, want digest %s", c.name, got.Artifact, inspected.Digest)
		}
	}
}
