package registry

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/accessory"
	"github.com/berth-registry/berth/ent/blob"
	"github.com/berth-registry/berth/ent/repository"

	"github.com/distribution/distribution/v3/registry/api/errcode"
)

// visibleRepositories returns up to limit repository names after last that p may see.
func (r *Registry) visibleRepositories(ctx context.Context, p *auth.Principal, last string, limit int) ([]string, error) {
	q := r.db.Repository.Query().Where(repository.HasProjectWith(auth.VisibleProjects(p)))
	if last != "" {
		q = q.Where(repository.NameGT(last))
	}
	return q.Order(ent.Asc(repository.FieldName)).Limit(limit).Select(repository.FieldName).Strings(ctx)
}

// serveReferrers answers the OCI referrers API from the index: every artifact in the repository
// whose subject is the given digest, optionally filtered by artifactType.
func (r *Registry) serveReferrers(w http.ResponseWriter, req *http.Request, rt route) {
	ctx := req.Context()
	subject, err := digest.Parse(rt.reference)
	if err != nil {
		serveError(w, errcode.ErrorCodeDigestInvalid.WithMessage("referrers need a digest: "+err.Error()), http.StatusBadRequest)
		return
	}
	repo, err := r.db.Repository.Query().Where(repository.Name(rt.name)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		r.log.Error("registry: referrers", "err", err)
		serveError(w, errcode.ErrorCodeUnknown, http.StatusInternalServerError)
		return
	}
	index := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{}}
	index.SchemaVersion = 2
	filter := req.URL.Query().Get("artifactType")
	if repo != nil {
		links, err := r.db.Accessory.Query().
			Where(accessory.RepositoryID(repo.ID), accessory.SubjectDigest(subject.String())).
			WithArtifact().All(ctx)
		if err != nil {
			r.log.Error("registry: referrers", "err", err)
			serveError(w, errcode.ErrorCodeUnknown, http.StatusInternalServerError)
			return
		}
		for _, l := range links {
			a := l.Edges.Artifact
			if filter != "" && a.ArtifactType != filter {
				continue
			}
			// The descriptor's size is the manifest's own; the artifact's size counts its blobs too.
			b, err := r.db.Blob.Query().Where(blob.Digest(a.Digest)).Only(ctx)
			if err != nil {
				r.log.Error("registry: referrers: manifest blob", "digest", a.Digest, "err", err)
				continue
			}
			index.Manifests = append(index.Manifests, v1.Descriptor{
				MediaType: a.MediaType, ArtifactType: a.ArtifactType, Digest: digest.Digest(a.Digest),
				Size: b.Size, Annotations: a.Annotations,
			})
		}
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", v1.MediaTypeImageIndex)
	_ = json.NewEncoder(w).Encode(index)
}
