package manifest

import "strings"

// The accessory types the index records, in Harbor's words (harbor-compat §10). An accessory is
// an artifact that describes another, its subject: found by an OCI subject field or by cosign's
// tag scheme (sha256-<hex>.sig, .att, .sbom).
const (
	AccessoryCosign      = "signature.cosign"
	AccessoryNotation    = "signature.notation"
	AccessoryAttestation = "attestation.cosign"
	AccessorySBOM        = "sbom.harbor"
	AccessoryReferrer    = "subject.accessory"
)

// AccessorySignatures are the accessory types that are signatures: verifying them gives their
// subject its signature status.
var AccessorySignatures = []string{AccessoryCosign, AccessoryNotation}

// The artifact types of cosign's OCI 1.1 referrers and of Notation signatures.
const (
	CosignSignatureArtifactType   = "application/vnd.dev.cosign.artifact.sig.v1+json"
	CosignAttestationArtifactType = "application/vnd.dev.cosign.artifact.att.v1+json"
	CosignSBOMArtifactType        = "application/vnd.dev.cosign.artifact.sbom.v1+json"
	NotationArtifactType          = "application/vnd.cncf.notary.signature"
)

// AccessoryType is the accessory type of a referrer (a manifest with a subject) of artifactType.
func AccessoryType(artifactType string) string {
	t := strings.ToLower(artifactType)
	switch {
	case t == CosignSignatureArtifactType:
		return AccessoryCosign
	case t == NotationArtifactType:
		return AccessoryNotation
	case t == CosignAttestationArtifactType || strings.Contains(t, "in-toto") || strings.Contains(t, "dsse"):
		return AccessoryAttestation
	case t == CosignSBOMArtifactType || strings.Contains(t, "spdx") || strings.Contains(t, "cyclonedx") || strings.Contains(t, "sbom"):
		return AccessorySBOM
	}
	return AccessoryReferrer
}

// CosignTagAccessory is the accessory type of cosign's tag scheme suffix ("sig", "att", "sbom").
func CosignTagAccessory(suffix string) string {
	switch suffix {
	case "sig":
		return AccessoryCosign
	case "att":
		return AccessoryAttestation
	case "sbom":
		return AccessorySBOM
	}
	return AccessoryReferrer
}
