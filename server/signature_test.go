package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/signature/signaturetest"
)

// cosignCLI runs the real cosign against env, offline: keys from files, no transparency log.
type cosignCLI struct {
	t    *testing.T
	bin  string
	env  *servertest.Env
	vars []string
	dir  string
}

func newCosign(t *testing.T, env *servertest.Env) *cosignCLI {
	t.Helper()
	bin := servertest.Tool(t, "cosign")
	home := t.TempDir()
	c := &cosignCLI{t: t, bin: bin, env: env, dir: t.TempDir(),
		vars: []string{"HOME=" + home, "DOCKER_CONFIG=" + filepath.Join(home, ".docker"), "COSIGN_PASSWORD=", "COSIGN_YES=true",
			"SIGSTORE_NO_CACHE=1", "TUF_ROOT=" + filepath.Join(home, "tuf")}}
	c.run("login", env.Host, "-u", "admin", "-p", servertest.AdminPassword)
	return c
}

func (c *cosignCLI) run(args ...string) string {
	c.t.Helper()
	return runIn(c.t, c.dir, c.vars, c.bin, args...)
}

// keyPair makes a cosign key pair in its own folder and returns the private key's path and the
// public key's PEM.
func (c *cosignCLI) keyPair(name string) (string, string) {
	c.t.Helper()
	dir := filepath.Join(c.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	runIn(c.t, dir, c.vars, c.bin, "generate-key-pair")
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		c.t.Fatal(err)
	}
	return filepath.Join(dir, "cosign.key"), string(pub)
}

// sign signs ref (repository@digest) with key, offline; extra flags go before the reference.
func (c *cosignCLI) sign(key, ref string, extra ...string) {
	c.t.Helper()
	args := append([]string{"sign", "--key", key, "--tlog-upload=false", "--allow-http-registry", "--allow-insecure-registry"}, extra...)
	c.run(append(args, ref)...)
}

// pushRandomImage pushes a small random image to ref and returns its digest.
func pushRandomImage(t *testing.T, env *servertest.Env, ref string) string {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(env.Host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

type sigState struct {
	SignatureStatus string
	SignatureKey    string
	SignatureReason string
	Accessories     []struct{ Type, Digest string }
}

// signatureState reads an artifact's signature status and accessories.
func signatureState(t *testing.T, env *servertest.Env, repo, ref string) sigState {
	t.Helper()
	var got struct{ Artifact *sigState }
	env.MustGraphQL("admin", servertest.AdminPassword, `query($r: String!, $ref: String!) { artifact(repository: $r, reference: $ref) {
		signatureStatus signatureKey signatureReason accessories { type digest } } }`, map[string]any{"r": repo, "ref": ref}, &got)
	if got.Artifact == nil {
		t.Fatalf("artifact %s@%s not found", repo, ref)
	}
	return *got.Artifact
}

// waitSignature waits (bounded) until the artifact's signature status is want and returns it.
func waitSignature(t *testing.T, env *servertest.Env, repo, ref, want string) sigState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := signatureState(t, env, repo, ref)
		if st.SignatureStatus == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s@%s: signature status %+v, want %s", repo, ref, st, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pullSigned GETs a manifest as admin and returns the status and body.
func pullSigned(t *testing.T, env *servertest.Env, repo, ref string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/v2/"+repo+"/manifests/"+ref, nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitPull waits (bounded) until a manifest pull answers want.
func waitPull(t *testing.T, env *servertest.Env, repo, ref string, want int) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := pullSigned(t, env, repo, ref)
		if status == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("pull %s:%s = %d %s, want %d", repo, ref, status, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func addTrustedKey(t *testing.T, env *servertest.Env, projectID any, name, kind, pem string) string {
	t.Helper()
	var got struct{ AddTrustedKey struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($p: ID, $n: String!, $k: TrustedKeyKind!, $pem: String!) {
		addTrustedKey(input: {projectID: $p, name: $n, kind: $k, pem: $pem}) { id } }`,
		map[string]any{"p": projectID, "n": name, "k": kind, "pem": pem}, &got)
	return got.AddTrustedKey.ID
}

func setRequireVerified(t *testing.T, env *servertest.Env, projectID int, on bool) {
	t.Helper()
	var got struct {
		UpdateProject struct{ RequireVerifiedSignature bool }
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!, $on: Boolean!) {
		updateProject(id: $id, input: {requireVerifiedSignature: $on}) { requireVerifiedSignature } }`,
		map[string]any{"id": projectID, "on": on}, &got)
	if got.UpdateProject.RequireVerifiedSignature != on {
		t.Fatalf("requireVerifiedSignature = %v, want %v", got.UpdateProject.RequireVerifiedSignature, on)
	}
}

// TestCosignSignaturesVerifiedAndEnforced signs with the real cosign CLI: a signature by a
// trusted key verifies, one by another key does not, a signature copied onto another image does
// not, OCI 1.1 referrers verify too; under "only verified images may be pulled" the unverified
// are refused (412) and the verified and the signatures themselves pulled, on warm (cached)
// pulls as well, and a key's removal reaches the warm path; deleting an image deletes its
// signatures.
func TestCosignSignaturesVerifiedAndEnforced(t *testing.T) {
	t.Parallel()
	servertest.Tool(t, "cosign") // skips (or fails under BERTH_REQUIRE_TOOLS) before starting a server
	env := servertest.Start(t)
	cosign := newCosign(t, env)
	projectID := env.CreateProject("signed", false)
	const repo = "signed/app"
	good := pushRandomImage(t, env, repo+":good")
	other := pushRandomImage(t, env, repo+":other")
	copied := pushRandomImage(t, env, repo+":copied")
	modern := pushRandomImage(t, env, repo+":modern")

	trustedKey, trustedPub := cosign.keyPair("trusted")
	strangerKey, _ := cosign.keyPair("stranger")
	keyID := addTrustedKey(t, env, projectID, "release", "PUBLIC_KEY", trustedPub)

	// Unsigned, before anything is signed.
	if st := signatureState(t, env, repo, good); st.SignatureStatus != "UNSIGNED" {
		t.Fatalf("before signing: %+v", st)
	}

	cosign.sign(trustedKey, env.Host+"/"+repo+"@"+good)
	st := waitSignature(t, env, repo, good, "VERIFIED")
	if st.SignatureKey != "release" || len(st.Accessories) != 1 || st.Accessories[0].Type != "signature.cosign" {
		t.Fatalf("signed with the trusted key: %+v", st)
	}
	sigDigest := st.Accessories[0].Digest

	cosign.sign(strangerKey, env.Host+"/"+repo+"@"+other)
	st = waitSignature(t, env, repo, other, "UNVERIFIED")
	if !strings.Contains(st.SignatureReason, "no trusted key") {
		t.Errorf("signed with an untrusted key: reason %q", st.SignatureReason)
	}

	// Tampering: the good image's signature, attached to another image under cosign's tag scheme.
	r, _ := name.NewRepository(env.Host+"/"+repo, name.Insecure)
	auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})
	desc, err := remote.Get(r.Digest(sigDigest), auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(r.Tag(strings.Replace(copied, ":", "-", 1)+".sig"), desc, auth); err != nil {
		t.Fatal(err)
	}
	st = waitSignature(t, env, repo, copied, "UNVERIFIED")
	if !strings.Contains(st.SignatureReason, "names "+good) {
		t.Errorf("a signature of another digest: reason %q", st.SignatureReason)
	}

	// OCI 1.1: the signature is a referrer with a subject, found through the referrers API.
	cosign.vars = append(cosign.vars, "COSIGN_EXPERIMENTAL=1")
	cosign.sign(trustedKey, env.Host+"/"+repo+"@"+modern, "--registry-referrers-mode=oci-1-1")
	st = waitSignature(t, env, repo, modern, "VERIFIED")
	if len(st.Accessories) != 1 || st.Accessories[0].Type != "signature.cosign" {
		t.Fatalf("OCI 1.1 signature: %+v", st)
	}

	// Accessories are not artifacts of the list.
	var list struct {
		Repository struct {
			Artifacts struct{ TotalCount int }
			All       struct{ TotalCount int }
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `query($n: String!) { repository(name: $n) {
		artifacts { totalCount } all: artifacts(where: {accessory: true}) { totalCount } } }`, map[string]any{"n": repo}, &list)
	if list.Repository.Artifacts.TotalCount != 4 || list.Repository.All.TotalCount != 3 {
		t.Errorf("artifact list: %d images (want 4) and %d accessories (want 3)", list.Repository.Artifacts.TotalCount, list.Repository.All.TotalCount)
	}

	// Enforcement. Warm the cache first: these pulls are answered from the fast path afterwards.
	for range 3 {
		waitPull(t, env, repo, "good", http.StatusOK)
		waitPull(t, env, repo, "other", http.StatusOK)
	}
	setRequireVerified(t, env, projectID, true)
	body := waitPull(t, env, repo, "other", http.StatusPreconditionFailed)
	if !strings.Contains(body, "PROJECTPOLICYVIOLATION") || !strings.Contains(body, "UNVERIFIED") {
		t.Errorf("refused pull says %s", body)
	}
	body = waitPull(t, env, repo, copied, http.StatusPreconditionFailed)
	if !strings.Contains(body, "names "+good) {
		t.Errorf("refused pull of the tampered image says %s", body)
	}
	for range 3 { // verified, warm
		waitPull(t, env, repo, "good", http.StatusOK)
	}
	waitPull(t, env, repo, sigDigest, http.StatusOK) // signatures stay pullable
	unsigned := pushRandomImage(t, env, repo+":unsigned")
	body = waitPull(t, env, repo, unsigned, http.StatusPreconditionFailed)
	if !strings.Contains(body, "UNSIGNED") {
		t.Errorf("refused pull of an unsigned image says %s", body)
	}

	// The key goes: what it verified is verified again, and the warm path refuses it.
	var del struct{ DeleteTrustedKey bool }
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { deleteTrustedKey(id: $id) }`, map[string]any{"id": keyID}, &del)
	waitSignature(t, env, repo, good, "UNVERIFIED")
	waitPull(t, env, repo, "good", http.StatusPreconditionFailed)
	setRequireVerified(t, env, projectID, false)
	waitPull(t, env, repo, "good", http.StatusOK)

	// Deleting the image deletes its signature.
	var art struct{ Artifact struct{ ID string } }
	env.MustGraphQL("admin", servertest.AdminPassword, `query($n: String!, $r: String!) { artifact(repository: $n, reference: $r) { id } }`,
		map[string]any{"n": repo, "r": good}, &art)
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { deleteArtifact(id: $id) }`, map[string]any{"id": art.Artifact.ID}, &del)
	if status, _ := pullSigned(t, env, repo, sigDigest); status != http.StatusNotFound {
		t.Errorf("the deleted image's signature: pull answers %d, want 404", status)
	}
	if status, _ := pullSigned(t, env, repo, strings.Replace(good, ":", "-", 1)+".sig"); status != http.StatusNotFound {
		t.Errorf("the deleted image's signature tag: pull answers %d, want 404", status)
	}
	// And through /v2: the OCI 1.1 referrer goes with its subject.
	modernSig := signatureState(t, env, repo, modern).Accessories[0].Digest
	req, _ := http.NewRequest(http.MethodDelete, env.URL+"/v2/"+repo+"/manifests/"+modern, nil)
	req.SetBasicAuth("admin", servertest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE %s: %d", modern, resp.StatusCode)
	}
	if status, _ := pullSigned(t, env, repo, modernSig); status != http.StatusNotFound {
		t.Errorf("the referrer of an image deleted through /v2: pull answers %d, want 404", status)
	}
}

// TestSBOMIsAnAccessory: an SBOM attached with oras hangs under its image, with Harbor's type,
// and is not in the artifact list.
func TestSBOMIsAnAccessory(t *testing.T) {
	t.Parallel()
	oras := servertest.Tool(t, "oras")
	env := servertest.Start(t)
	env.CreateProject("sbom", false)
	img := pushRandomImage(t, env, "sbom/app:v1")
	work := t.TempDir()
	vars := []string{"HOME=" + t.TempDir()}
	common := []string{"--plain-http", "--registry-config", filepath.Join(t.TempDir(), "auth.json")}
	runIn(t, work, vars, oras, append([]string{"login", env.Host, "-u", "admin", "-p", servertest.AdminPassword}, common...)...)
	if err := os.WriteFile(filepath.Join(work, "sbom.json"), []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var attached struct{ Digest string }
	out := runIn(t, work, vars, oras, append([]string{"attach", env.Host + "/sbom/app@" + img, "--artifact-type", "application/spdx+json",
		"--format", "json", "sbom.json:application/spdx+json"}, common...)...)
	if err := json.Unmarshal([]byte(out), &attached); err != nil {
		t.Fatalf("oras attach: %q: %v", out, err)
	}
	st := signatureState(t, env, "sbom/app", img)
	if len(st.Accessories) != 1 || st.Accessories[0].Type != "sbom.harbor" || st.Accessories[0].Digest != attached.Digest || st.SignatureStatus != "UNSIGNED" {
		t.Fatalf("image with an SBOM: %+v", st)
	}
	// Harbor's REST shape.
	var accs []struct {
		ArtifactID        int    `json:"artifact_id"`
		SubjectArtifactID int    `json:"subject_artifact_id"`
		Digest            string `json:"digest"`
		Type              string `json:"type"`
	}
	getJSON(t, env.URL+"/api/v2.0/projects/sbom/repositories/app/artifacts/"+img+"/accessories", &accs)
	if len(accs) != 1 || accs[0].Type != "sbom.harbor" || accs[0].Digest != attached.Digest || accs[0].SubjectArtifactID == 0 || accs[0].ArtifactID == 0 {
		t.Errorf("REST accessories: %+v", accs)
	}
	var list struct {
		Repository struct {
			Artifacts struct {
				TotalCount int
				Edges      []struct{ Node struct{ Digest string } }
			}
		}
	}
	env.MustGraphQL("admin", servertest.AdminPassword, `{ repository(name: "sbom/app") { artifacts { totalCount edges { node { digest } } } } }`, nil, &list)
	if list.Repository.Artifacts.TotalCount != 1 || list.Repository.Artifacts.Edges[0].Node.Digest != img {
		t.Errorf("artifact list: %+v, want only the image", list.Repository.Artifacts)
	}
}

// TestNotationSignatureVerified: a Notation signature (a JWS envelope made with notation-core-go,
// as the notation CLI makes it, pushed as an OCI 1.1 referrer) verifies once the project trusts
// its root certificate, and not before.
func TestNotationSignatureVerified(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	projectID := env.CreateProject("notary", false)
	img := pushRandomImage(t, env, "notary/app:v1")
	ca := signaturetest.NewCA(t, "acme")

	r, _ := name.NewRepository(env.Host+"/notary/app", name.Insecure)
	auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: servertest.AdminPassword})
	desc, err := remote.Head(r.Digest(img), auth)
	if err != nil {
		t.Fatal(err)
	}
	envelope := static.NewLayer(ca.NotationEnvelope(t, string(desc.MediaType), img, desc.Size), "application/jose+json")
	empty := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	for _, l := range []v1.Layer{envelope, empty} {
		if err := remote.WriteLayer(r, l, auth); err != nil {
			t.Fatal(err)
		}
	}
	ed, _ := envelope.Digest()
	es, _ := envelope.Size()
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.notary.signature",`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/jose+json","digest":"%s","size":%d}],`+
		`"subject":{"mediaType":"%s","digest":"%s","size":%d}}`, digest.FromString("{}"), ed, es, desc.MediaType, img, desc.Size)
	sigDigest := digest.FromString(manifest)
	if err := remote.Put(r.Digest(sigDigest.String()), rawTaggable{types.OCIManifestSchema1, []byte(manifest)}, auth); err != nil {
		t.Fatal(err)
	}
	st := waitSignature(t, env, "notary/app", img, "UNVERIFIED")
	if len(st.Accessories) != 1 || st.Accessories[0].Type != "signature.notation" || !strings.Contains(st.SignatureReason, "trusts no key") {
		t.Fatalf("before the root is trusted: %+v", st)
	}
	addTrustedKey(t, env, projectID, "acme root", "CERTIFICATE", ca.RootPEM)
	if st := waitSignature(t, env, "notary/app", img, "VERIFIED"); st.SignatureKey != "acme root" {
		t.Fatalf("after: %+v", st)
	}
}
