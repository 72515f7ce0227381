package signature_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/signature"
	"github.com/berth-registry/berth/signature/signaturetest"
)

const image = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

// cosignManifest is a cosign signature manifest over payload with sig, and a blob reader.
func cosignManifest(payload, sig []byte) ([]byte, signature.Blobs) {
	pd := digest.FromBytes(payload)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},`+
		`"layers":[{"mediaType":"%s","digest":"%s","size":%d,"annotations":{"dev.cosignproject.cosign/signature":"%s"}}]}`,
		digest.FromString("{}"), signature.CosignPayloadMediaType, pd, len(payload), base64.StdEncoding.EncodeToString(sig))
	return []byte(m), func(d digest.Digest) ([]byte, error) {
		if d == pd {
			return payload, nil
		}
		return nil, fmt.Errorf("no blob %s", d)
	}
}

func mustKey(t testing.TB, name string, kind signature.Kind, pem string) signature.Key {
	t.Helper()
	k, _, err := signature.ParseKey(name, kind, pem)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerifyCosign(t *testing.T) {
	t.Parallel()
	release, stranger := signaturetest.NewCosignKey(t), signaturetest.NewCosignKey(t)
	keys := []signature.Key{mustKey(t, "release", signature.KindPublicKey, release.PubPEM)}
	payload := signaturetest.SimpleSigning(image)

	m, blobs := cosignManifest(payload, release.Sign(t, payload))
	if o := signature.VerifyCosign(m, image, keys, blobs); o.Key != "release" {
		t.Errorf("signed by the trusted key: %+v", o)
	}
	m, blobs = cosignManifest(payload, stranger.Sign(t, payload))
	if o := signature.VerifyCosign(m, image, keys, blobs); o.Verified() || !strings.Contains(o.Reason, "no trusted key") {
		t.Errorf("signed by another key: %+v", o)
	}
	other := digest.FromString("another image")
	m, blobs = cosignManifest(payload, release.Sign(t, payload))
	if o := signature.VerifyCosign(m, other, keys, blobs); o.Verified() || !strings.Contains(o.Reason, "names "+image) {
		t.Errorf("attached to another image: %+v", o)
	}
	tampered := []byte(strings.Replace(string(payload), "example/app", "example/evil", 1))
	m, blobs = cosignManifest(tampered, release.Sign(t, payload))
	if o := signature.VerifyCosign(m, image, keys, blobs); o.Verified() {
		t.Errorf("payload changed after signing: %+v", o)
	}
	for _, hostile := range []string{"", "{", `{"layers":[{"mediaType":"` + signature.CosignPayloadMediaType + `","digest":"sha256:zz","annotations":{"dev.cosignproject.cosign/signature":"%%%"}}]}`} {
		if o := signature.VerifyCosign([]byte(hostile), image, keys, blobs); o.Verified() || o.Reason == "" {
			t.Errorf("hostile manifest %q: %+v", hostile, o)
		}
	}
}

func TestVerifyNotation(t *testing.T) {
	t.Parallel()
	ca, otherCA := signaturetest.NewCA(t, "acme"), signaturetest.NewCA(t, "other")
	keys := []signature.Key{mustKey(t, "acme root", signature.KindCertificate, ca.RootPEM)}
	check := func(env []byte, subject digest.Digest, keys []signature.Key) signature.Outcome {
		ed := digest.FromBytes(env)
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"%s",`+
			`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"%s","digest":"%s","size":%d}]}`,
			signature.NotationArtifactType, digest.FromString("{}"), jws.MediaTypeEnvelope, ed, len(env))
		return signature.VerifyNotation([]byte(m), subject, keys, func(d digest.Digest) ([]byte, error) { return env, nil })
	}
	env := ca.NotationEnvelope(t, "application/vnd.oci.image.manifest.v1+json", image, 100)
	if o := check(env, image, keys); o.Key != "acme root" {
		t.Errorf("signed under the trusted root: %+v", o)
	}
	if o := check(otherCA.NotationEnvelope(t, "application/vnd.oci.image.manifest.v1+json", image, 100), image, keys); o.Verified() {
		t.Errorf("signed under another root: %+v", o)
	}
	if o := check(env, digest.FromString("x"), keys); o.Verified() || !strings.Contains(o.Reason, "names") {
		t.Errorf("attached to another image: %+v", o)
	}
	if o := check([]byte("not an envelope"), image, keys); o.Verified() {
		t.Errorf("garbage envelope: %+v", o)
	}
}

func TestParseKeyRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	ca := signaturetest.NewCA(t, "acme")
	key := signaturetest.NewCosignKey(t)
	for _, c := range []struct {
		kind signature.Kind
		pem  string
	}{
		{signature.KindPublicKey, ""},
		{signature.KindPublicKey, "not pem"},
		{signature.KindPublicKey, ca.RootPEM},                               // a certificate given as a key
		{signature.KindCertificate, key.PubPEM},                             // a key given as a certificate
		{signature.KindPublicKey, key.PubPEM + key.PubPEM},                  // two blocks
		{"SSH", key.PubPEM},                                                 // unknown kind
		{signature.KindPublicKey, strings.Replace(key.PubPEM, "A", "B", 3)}, // corrupt
	} {
		if _, _, err := signature.ParseKey("k", c.kind, c.pem); !isBadInput(err) {
			t.Errorf("ParseKey(%s, %.40q) = %v, want bad input", c.kind, c.pem, err)
		}
	}
	if _, fp, err := signature.ParseKey("k", signature.KindPublicKey, key.PubPEM); err != nil || !strings.HasPrefix(fp, "sha256:") {
		t.Errorf("a good key: %s, %v", fp, err)
	}
}

// BenchmarkVerifyCosign measures verifying one cosign signature (ECDSA P-256) against a project
// with three trusted keys, the matching one last: what a verification job spends per signature,
// storage reads aside.
func BenchmarkVerifyCosign(b *testing.B) {
	signer := signaturetest.NewCosignKey(b)
	keys := []signature.Key{
		mustKey(b, "a", signature.KindPublicKey, signaturetest.NewCosignKey(b).PubPEM),
		mustKey(b, "b", signature.KindPublicKey, signaturetest.NewCosignKey(b).PubPEM),
		mustKey(b, "release", signature.KindPublicKey, signer.PubPEM),
	}
	payload := signaturetest.SimpleSigning(image)
	m, blobs := cosignManifest(payload, signer.Sign(b, payload))
	for b.Loop() {
		if o := signature.VerifyCosign(m, image, keys, blobs); !o.Verified() {
			b.Fatal(o.Reason)
		}
	}
}

// BenchmarkVerifyNotation measures verifying one Notation (JWS) signature and its chain.
func BenchmarkVerifyNotation(b *testing.B) {
	ca := signaturetest.NewCA(b, "acme")
	keys := []signature.Key{mustKey(b, "acme", signature.KindCertificate, ca.RootPEM)}
	env := ca.NotationEnvelope(b, "application/vnd.oci.image.manifest.v1+json", image, 100)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"%s",`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"%s","digest":"%s","size":%d}]}`,
		signature.NotationArtifactType, digest.FromString("{}"), jws.MediaTypeEnvelope, digest.FromBytes(env), len(env))
	for b.Loop() {
		if o := signature.VerifyNotation([]byte(m), image, keys, func(digest.Digest) ([]byte, error) { return env, nil }); !o.Verified() {
			b.Fatal(o.Reason)
		}
	}
}

func isBadInput(err error) bool {
	f, ok := fault.As(err)
	return ok && f.Kind == fault.KindBadInput
}
