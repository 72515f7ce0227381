package signature

import (
	"crypto/x509"
	"encoding/json"
	"fmt"

	notation "github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers the COSE envelope
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // registers the JWS envelope
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// NotationArtifactType is the artifactType of a Notation signature manifest.
const NotationArtifactType = "application/vnd.cncf.notary.signature"

// notationPayload is the signed payload of a Notation signature.
type notationPayload struct {
	TargetArtifact v1.Descriptor `json:"targetArtifact"`
}

// VerifyNotation verifies a Notation signature manifest for the artifact subject: its envelope
// (JWS or COSE) must verify with the certificate chain it carries, that chain must lead to a
// trusted certificate, and the signed payload must name subject. Revocation and timestamping
// authorities, which need the network, are not consulted; the chain is checked at the signing time
// the envelope states.
func VerifyNotation(manifest []byte, subject digest.Digest, keys []Key, blobs Blobs) Outcome {
	var m v1.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil || len(m.Layers) != 1 {
		return Outcome{Reason: "the Notation signature manifest must be an OCI manifest with one envelope layer"}
	}
	l := m.Layers[0]
	if l.Size > maxPayload {
		return Outcome{Reason: "the Notation envelope is too large"}
	}
	body, err := blobs(l.Digest)
	if err != nil || l.Digest.Validate() != nil || l.Digest.Algorithm().FromBytes(body) != l.Digest {
		return Outcome{Reason: "the Notation envelope cannot be read"}
	}
	env, err := notation.ParseEnvelope(l.MediaType, body)
	if err != nil {
		return Outcome{Reason: fmt.Sprintf("the Notation envelope (%s) cannot be parsed", truncate(l.MediaType, 60))}
	}
	content, err := env.Verify()
	if err != nil {
		return Outcome{Reason: "the Notation signature is invalid"}
	}
	var p notationPayload
	if err := json.Unmarshal(content.Payload.Content, &p); err != nil {
		return Outcome{Reason: "the Notation payload is not a target-artifact document"}
	}
	if p.TargetArtifact.Digest != subject {
		return Outcome{Reason: fmt.Sprintf("the signed payload names %s, not this artifact", truncate(p.TargetArtifact.Digest.String(), 80))}
	}
	chain := content.SignerInfo.CertificateChain
	if len(chain) == 0 {
		return Outcome{Reason: "the Notation signature carries no certificate"}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	at := chain[0].NotBefore
	if t := content.SignerInfo.SignedAttributes.SigningTime; !t.IsZero() {
		// Checked at the stated signing time, as Notation's own verifier does without a timestamp.
		at = t
	}
	if name := chainsTo(chain[0], inter, keys, at); name != "" {
		return Outcome{Key: name}
	}
	return Outcome{Reason: "the Notation certificate does not chain to a trusted certificate"}
}
