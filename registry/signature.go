package registry

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/tag"
)

// serveDelete has Distribution delete a manifest and, when it was deleted by digest, deletes its
// accessories (signatures, attestations, SBOMs, referrers) with it, as Harbor does.
func (r *Registry) serveDelete(w http.ResponseWriter, req *http.Request, rt route) {
	rec := &statusWriter{ResponseWriter: w}
	r.app.ServeHTTP(retryAfterWriter{rec}, req)
	dgst := digest.Digest(rt.reference)
	if rec.status != http.StatusAccepted || dgst.Validate() != nil {
		return
	}
	if err := r.deleteAccessories(req.Context(), rt.name, dgst, 0); err != nil {
		r.log.Error("registry: delete the accessories of a deleted manifest", "repository", rt.name, "digest", dgst, "err", err)
	}
}

// signaturePolicyRefuses enforces a project's "only verified images may be pulled" on a manifest
// GET, answering 412 with the reason when the artifact is not VERIFIED. The scanner's own pull is
// exempt, as from the pull policy.
func (r *Registry) signaturePolicyRefuses(w http.ResponseWriter, req *http.Request, rt route, p *auth.Principal, proj *ent.Project) bool {
	if !proj.RequireVerifiedSignature || p.Kind == auth.KindScanner {
		return false
	}
	reason, err := r.signatureRefusal(req.Context(), proj.Name, rt.name, rt.reference)
	if err != nil {
		r.failed(w, "signature policy", err)
		return true
	}
	return refusedByPolicy(w, reason)
}

// signatureRefusal is why repo's artifact reference may not be pulled under "only verified images
// may be pulled", or "" when it may: it is VERIFIED, or it is an accessory (signatures,
// attestations and SBOMs stay pullable so clients can verify), or a child of a VERIFIED index. An
// artifact the index does not hold is left to Distribution, which answers that it is unknown.
func (r *Registry) signatureRefusal(ctx context.Context, projectName, repo, reference string) (string, error) {
	q := r.db.Artifact.Query().Where(artifact.HasRepositoryWith(repository.Name(repo)))
	if d := digest.Digest(reference); d.Validate() == nil {
		q = q.Where(artifact.Digest(reference))
	} else {
		q = q.Where(artifact.HasTagsWith(tag.Name(reference)))
	}
	a, err := q.Select(artifact.FieldID, artifact.FieldDigest, artifact.FieldSignatureStatus, artifact.FieldSignatureReason).Only(ctx)
	if ent.IsNotFound(err) || ent.IsNotSingular(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("signature status of %s:%s: %w", repo, reference, err)
	}
	if a.SignatureStatus == artifact.SignatureStatusVerified {
		return "", nil
	}
	exempt, err := r.db.Artifact.Query().Where(artifact.ID(a.ID), artifact.Or(artifact.HasAccessoryLinks(),
		artifact.HasParentsWith(artifact.SignatureStatusEQ(artifact.SignatureStatusVerified)))).Exist(ctx)
	if err != nil {
		return "", fmt.Errorf("signature status of %s:%s: %w", repo, reference, err)
	}
	if exempt {
		return "", nil
	}
	if a.SignatureStatus == artifact.SignatureStatusUnverified {
		return fmt.Sprintf("The image is not signed by a trusted key (signature UNVERIFIED: %s): project %s only allows verified images to be pulled.",
			strings.TrimSuffix(a.SignatureReason, "."), projectName), nil
	}
	return fmt.Sprintf("The image is not signed (signature UNSIGNED): project %s only allows images signed by a key it trusts to be pulled.", projectName), nil
}

// cachedSignatureAllows is signatureRefusal for the fast path, as a cached yes or no: kept in
// process for decisionTTL under the access generation, which every change of a signature status
// moves (the verifier notifies berth_cache_access in its transaction), like any access decision.
// A no sends the request down the ordinary road, which explains itself (412).
func (r *Registry) cachedSignatureAllows(ctx context.Context, projectName, repo string, dgst digest.Digest) bool {
	key := strconv.FormatUint(r.cache.Generation(), 10) + ":sig:" + repo + "@" + dgst.String()
	b, err := r.cache.GetLocal(ctx, cache.KindAccess, key, decisionTTL, func(ctx context.Context) ([]byte, error) {
		reason, err := r.signatureRefusal(ctx, projectName, repo, dgst.String())
		if err != nil {
			return nil, err
		}
		if reason != "" {
			return []byte{'0'}, nil
		}
		return []byte{'1'}, nil
	})
	return err == nil && len(b) == 1 && b[0] == '1'
}
