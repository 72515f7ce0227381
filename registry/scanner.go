package registry

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/artifactblob"
	"github.com/berth-registry/berth/ent/blob"
	"github.com/berth-registry/berth/ent/repository"
)

// scannerMayRead reports whether a scanner's token (auth.KindScanner) covers a request: the
// manifest of its one artifact, by digest, and the blobs that artifact stands on (its config and
// layers, as the index links them), in its one repository. Tags, referrers, other artifacts and
// every write are outside it.
func (r *Registry) scannerMayRead(ctx context.Context, p *auth.Principal, rt route) (bool, error) {
	if rt.name != p.ScanRepository {
		return false, nil
	}
	switch rt.kind {
	case routeManifest:
		return rt.reference == p.ScanDigest, nil
	case routeBlob:
		if digest.Digest(rt.reference).Validate() != nil {
			return false, nil
		}
		if rt.reference == p.ScanDigest {
			return true, nil
		}
		ok, err := r.db.ArtifactBlob.Query().Where(
			artifactblob.HasArtifactWith(artifact.Digest(p.ScanDigest), artifact.HasRepositoryWith(repository.Name(p.ScanRepository))),
			artifactblob.HasBlobWith(blob.Digest(rt.reference)),
		).Exist(ctx)
		if err != nil {
			return false, fmt.Errorf("scanner token for %s@%s: blob %s: %w", p.ScanRepository, p.ScanDigest, rt.reference, err)
		}
		return ok, nil
	default:
		return false, nil
	}
}
