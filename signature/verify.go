// Package signature owns what Berth knows about signatures: the trusted keys of each project
// (and the system-wide ones), verifying the cosign and Notation signatures that refer to an
// artifact against them, offline, and the resulting signature status of the artifact, which the
// registry enforces at pull where a project requires it.
package signature

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	sigsig "github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/berth-registry/berth/fault"
)

// The annotations cosign puts on each layer of a signature manifest.
const (
	cosignSignatureAnnotation   = "dev.cosignproject.cosign/signature"
	cosignCertificateAnnotation = "dev.sigstore.cosign/certificate"
	cosignChainAnnotation       = "dev.sigstore.cosign/chain"
	// CosignPayloadMediaType is the media type of a cosign signature's signed payload.
	CosignPayloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
)

// maxPayload bounds what is read of one signed payload or Notation envelope.
const maxPayload = 1 << 20

// Kind is the kind of a trusted key.
type Kind string

const (
	// KindPublicKey is a cosign public key: ECDSA, Ed25519 or RSA.
	KindPublicKey Kind = "PUBLIC_KEY"
	// KindCertificate is an X.509 certificate (usually a root or intermediate CA) that Notation
	// signatures and keyless cosign certificates must chain to.
	KindCertificate Kind = "CERTIFICATE"
)

// Key is a trusted key, parsed.
type Key struct {
	Name string
	Kind Kind
	// Public is set for KindPublicKey; Cert for KindCertificate.
	Public crypto.PublicKey
	Cert   *x509.Certificate
}

// ParseKey parses a PEM public key or certificate as kind, and returns it with its fingerprint
// (sha256:<hex> of the DER). Anything else is bad input, saying what is expected.
func ParseKey(name string, kind Kind, pemText string) (Key, string, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(pemText)))
	if block == nil {
		return Key{}, "", fault.BadInput("the key is not PEM: paste the text starting with -----BEGIN")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return Key{}, "", fault.BadInput("give one key or certificate per entry: the PEM text holds more than one block")
	}
	sum := sha256.Sum256(block.Bytes)
	fp := "sha256:" + hex.EncodeToString(sum[:])
	switch kind {
	case KindPublicKey:
		if block.Type != "PUBLIC KEY" {
			return Key{}, "", fault.BadInput("a PUBLIC_KEY must be a PEM \"PUBLIC KEY\" (cosign.pub), not %q; give a certificate as CERTIFICATE", block.Type)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return Key{}, "", fault.BadInput("the public key cannot be read: %v", err)
		}
		if _, err := sigsig.LoadVerifier(pub, crypto.SHA256); err != nil {
			return Key{}, "", fault.BadInput("unsupported public key: %v (ECDSA, Ed25519 and RSA keys are supported)", err)
		}
		return Key{Name: name, Kind: kind, Public: pub}, fp, nil
	case KindCertificate:
		if block.Type != "CERTIFICATE" {
			return Key{}, "", fault.BadInput("a CERTIFICATE must be a PEM \"CERTIFICATE\", not %q", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return Key{}, "", fault.BadInput("the certificate cannot be read: %v", err)
		}
		return Key{Name: name, Kind: kind, Cert: cert}, fp, nil
	}
	return Key{}, "", fault.BadInput("unknown key kind %q: use PUBLIC_KEY or CERTIFICATE", kind)
}

// Blobs reads a blob of the repository being verified, by digest.
type Blobs func(dgst digest.Digest) ([]byte, error)

// Outcome is what verifying one signature found: the key that verified it, or why none did.
type Outcome struct {
	Key    string
	Reason string
}

// Verified reports whether a trusted key verified the signature.
func (o Outcome) Verified() bool { return o.Key != "" }

// VerifyCosign verifies a cosign signature manifest (tag scheme or OCI 1.1 referrer) against
// keys, for the artifact subject. Each layer is one signature over a simple-signing payload that
// must name subject; a layer with a certificate (keyless) verifies only when the certificate
// chains to a trusted certificate. Nothing is asked of a transparency log or Fulcio.
func VerifyCosign(manifest []byte, subject digest.Digest, keys []Key, blobs Blobs) Outcome {
	var m v1.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return Outcome{Reason: "the signature manifest is not an OCI manifest"}
	}
	reason := "the signature holds no cosign signature layer"
	for _, l := range m.Layers {
		sigText, ok := l.Annotations[cosignSignatureAnnotation]
		if !ok || l.MediaType != CosignPayloadMediaType {
			continue
		}
		o := verifyCosignLayer(l, sigText, subject, keys, blobs)
		if o.Verified() {
			return o
		}
		reason = o.Reason
	}
	return Outcome{Reason: reason}
}

func verifyCosignLayer(l v1.Descriptor, sigText string, subject digest.Digest, keys []Key, blobs Blobs) Outcome {
	if l.Size > maxPayload {
		return Outcome{Reason: "the signed payload is too large"}
	}
	body, err := blobs(l.Digest)
	if err != nil {
		return Outcome{Reason: fmt.Sprintf("the signed payload %s cannot be read", l.Digest)}
	}
	if l.Digest.Validate() != nil || l.Digest.Algorithm().FromBytes(body) != l.Digest {
		return Outcome{Reason: "the signed payload does not match its digest"}
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil {
		return Outcome{Reason: "the signature annotation is not base64"}
	}
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(body, &p); err != nil {
		return Outcome{Reason: "the signed payload is not a cosign simple-signing document"}
	}
	if named := p.Critical.Image.DockerManifestDigest; named != subject.String() {
		return Outcome{Reason: fmt.Sprintf("the signed payload names %s, not this artifact", truncate(named, 80))}
	}
	if certPEM, ok := l.Annotations[cosignCertificateAnnotation]; ok && certPEM != "" {
		return verifyKeyless(body, sig, certPEM, l.Annotations[cosignChainAnnotation], keys)
	}
	for _, k := range keys {
		if k.Kind != KindPublicKey {
			continue
		}
		v, err := sigsig.LoadVerifier(k.Public, crypto.SHA256)
		if err != nil {
			continue
		}
		if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)) == nil {
			return Outcome{Key: k.Name}
		}
	}
	return Outcome{Reason: "no trusted key verifies the signature"}
}

// verifyKeyless verifies a signature made with a certificate's key (cosign keyless, or a key
// with a certificate), accepting it only when the certificate chains to a trusted certificate.
// Without a transparency log the signing time is unproven, so the chain is checked at the
// certificate's own issuance time.
func verifyKeyless(body, sig []byte, certPEM, chainPEM string, keys []Key) Outcome {
	certs, err := parseCerts(certPEM)
	if err != nil || len(certs) == 0 {
		return Outcome{Reason: "the signature's certificate cannot be read"}
	}
	leaf := certs[0]
	v, err := sigsig.LoadVerifier(leaf.PublicKey, crypto.SHA256)
	if err != nil || v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)) != nil {
		return Outcome{Reason: "the signature does not verify with its own certificate"}
	}
	inter := x509.NewCertPool()
	if chain, err := parseCerts(chainPEM); err == nil {
		for _, c := range chain {
			inter.AddCert(c)
		}
	}
	if name := chainsTo(leaf, inter, keys, leaf.NotBefore); name != "" {
		return Outcome{Key: name}
	}
	return Outcome{Reason: "keyless signature: its certificate does not chain to a trusted certificate"}
}

// chainsTo is the name of the first trusted certificate a code-signing leaf chains to at time at,
// or "".
func chainsTo(leaf *x509.Certificate, inter *x509.CertPool, keys []Key, at time.Time) string {
	for _, k := range keys {
		if k.Kind != KindCertificate {
			continue
		}
		if k.Cert.Equal(leaf) {
			return k.Name
		}
		roots := x509.NewCertPool()
		roots.AddCert(k.Cert)
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
		if err == nil {
			return k.Name
		}
	}
	return ""
}

func parseCerts(text string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(text)
	for len(out) < 10 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 && strings.TrimSpace(text) != "" {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
