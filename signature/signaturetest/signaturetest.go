// Package signaturetest makes signing material for tests: a certificate authority with a
// code-signing leaf, Notation envelopes signed with it (through notation-core-go, as the notation
// CLI signs), and cosign-style simple-signing payloads signed with a plain key.
package signaturetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	notation "github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/jws"
)

// CA is a certificate authority and a code-signing certificate it issued.
type CA struct {
	Root    *x509.Certificate
	RootPEM string
	Leaf    *x509.Certificate
	LeafKey *ecdsa.PrivateKey
}

// NewCA makes a root and a code-signing leaf, valid from an hour ago for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " root", Organization: []string{name}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " signer", Organization: []string{name},
		Country: []string{"XX"}, Province: []string{"State"}, Locality: []string{"City"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	return &CA{Root: root, Leaf: leaf, LeafKey: leafKey,
		RootPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}))}
}

// NotationEnvelope signs a Notation payload naming the target (media type, digest, size) with
// the CA's leaf, as a JWS envelope (media type jws.MediaTypeEnvelope).
func (c *CA) NotationEnvelope(t testing.TB, mediaType, dgst string, size int64) []byte {
	t.Helper()
	signer, err := notation.NewLocalSigner([]*x509.Certificate{c.Leaf, c.Root}, c.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	env, err := notation.NewEnvelope(jws.MediaTypeEnvelope)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"targetArtifact":{"mediaType":"` + mediaType + `","digest":"` + dgst + `","size":` + big.NewInt(size).String() + `}}`)
	b, err := env.Sign(&notation.SignRequest{Payload: notation.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload},
		Signer: signer, SigningTime: time.Now(), SigningScheme: notation.SigningSchemeX509, SigningAgent: "berth-test"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CosignKey is a cosign-style ECDSA P-256 key pair.
type CosignKey struct {
	Key    *ecdsa.PrivateKey
	PubPEM string
}

// NewCosignKey makes a key pair.
func NewCosignKey(t testing.TB) *CosignKey {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &CosignKey{Key: k, PubPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

// SimpleSigning is the payload cosign signs for an image digest.
func SimpleSigning(dgst string) []byte {
	return []byte(`{"critical":{"identity":{"docker-reference":"example/app"},"image":{"docker-manifest-digest":"` + dgst +
		`"},"type":"cosign container image signature"},"optional":null}`)
}

// Sign signs payload as cosign does (ECDSA over SHA-256, ASN.1).
func (k *CosignKey) Sign(t testing.TB, payload []byte) []byte {
	t.Helper()
	h := sha256.Sum256(payload)
	sig, err := k.Key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
