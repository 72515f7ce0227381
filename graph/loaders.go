package graph

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/accessory"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/member"
	"github.com/berth-registry/berth/ent/predicate"
	"github.com/berth-registry/berth/ent/repository"
)

// loaders batch the per-project fields of a list into one query each, so that a page of 100
// projects costs two extra queries, not two hundred. They live for one request.
type loaders struct {
	counts  *dataloadgen.Loader[int, int]
	storage *dataloadgen.Loader[int, int64]
	roles   *dataloadgen.Loader[int, *member.Role]
	signed  *dataloadgen.Loader[subject, bool]
}

// subject names an artifact as accessories refer to it: its repository and digest.
type subject struct {
	repositoryID int
	digest       string
}

// signatureTypes are the artifact types of signatures pushed as referrers (cosign's OCI 1.1
// form and Notation); cosign's tag-based signatures are recorded as "signature.cosign" links.
var signatureTypes = []string{"application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.cncf.notary.signature"}

type loadersKey struct{}

// Loaders wraps next so that every request gets fresh loaders for the caller in its context.
func (r *Resolver) Loaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := context.WithValue(req.Context(), loadersKey{}, r.newLoaders(auth.PrincipalFrom(req.Context())))
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

func (r *Resolver) newLoaders(p *auth.Principal) *loaders {
	// Fields of one list are resolved in parallel goroutines; on a busy machine they can spread
	// over more than a millisecond, and a shorter window would split one batch into two.
	wait := dataloadgen.WithWait(5 * time.Millisecond)
	return &loaders{
		counts: dataloadgen.NewLoader(func(ctx context.Context, ids []int) ([]int, []error) {
			var rows []struct {
				ProjectID int `json:"project_id"`
				Count     int `json:"count"`
			}
			err := r.DB.Repository.Query().Where(repository.ProjectIDIn(ids...)).
				GroupBy(repository.FieldProjectID).Aggregate(ent.Count()).Scan(ctx, &rows)
			if err != nil {
				return nil, []error{err}
			}
			byID := make(map[int]int, len(rows))
			for _, row := range rows {
				byID[row.ProjectID] = row.Count
			}
			out := make([]int, len(ids))
			for i, id := range ids {
				out[i] = byID[id]
			}
			return out, nil
		}, wait),
		storage: dataloadgen.NewLoader(func(ctx context.Context, ids []int) ([]int64, []error) {
			// A blob shared by several artifacts of a project is stored once, so count it once.
			rows, err := r.DB.QueryContext(ctx, `
				SELECT p.project_id, COALESCE(SUM(b.size), 0)::bigint
				FROM (SELECT DISTINCT r.project_id, ab.blob_id
				      FROM repositories r
				      JOIN artifacts a ON a.repository_id = r.id
				      JOIN artifact_blobs ab ON ab.artifact_id = a.id
				      WHERE r.project_id = ANY($1)) p
				JOIN blobs b ON b.id = p.blob_id
				GROUP BY p.project_id`, ids)
			if err != nil {
				return nil, []error{fmt.Errorf("storage used: %w", err)}
			}
			defer rows.Close()
			byID := make(map[int]int64, len(ids))
			for rows.Next() {
				var id int
				var size int64
				if err := rows.Scan(&id, &size); err != nil {
					return nil, []error{fmt.Errorf("storage used: %w", err)}
				}
				byID[id] = size
			}
			if err := rows.Err(); err != nil {
				return nil, []error{fmt.Errorf("storage used: %w", err)}
			}
			out := make([]int64, len(ids))
			for i, id := range ids {
				out[i] = byID[id]
			}
			return out, nil
		}, wait),
		signed: dataloadgen.NewLoader(func(ctx context.Context, keys []subject) ([]bool, []error) {
			match := make([]predicate.Accessory, len(keys))
			for i, k := range keys {
				match[i] = accessory.And(accessory.RepositoryID(k.repositoryID), accessory.SubjectDigest(k.digest))
			}
			links, err := r.DB.Accessory.Query().Where(accessory.Or(match...),
				accessory.Or(accessory.Type("signature.cosign"), accessory.HasArtifactWith(artifact.ArtifactTypeIn(signatureTypes...)))).
				All(ctx)
			if err != nil {
				return nil, []error{fmt.Errorf("signatures: %w", err)}
			}
			found := make(map[subject]bool, len(links))
			for _, l := range links {
				found[subject{l.RepositoryID, l.SubjectDigest}] = true
			}
			out := make([]bool, len(keys))
			for i, k := range keys {
				out[i] = found[k]
			}
			return out, nil
		}, wait),
		roles: dataloadgen.NewLoader(func(ctx context.Context, ids []int) ([]*member.Role, []error) {
			out := make([]*member.Role, len(ids))
			if p.Kind != auth.KindUser {
				return out, nil
			}
			ms, err := r.DB.Member.Query().Where(member.UserID(p.UserID), member.ProjectIDIn(ids...)).All(ctx)
			if err != nil {
				return nil, []error{err}
			}
			byID := make(map[int]member.Role, len(ms))
			for _, m := range ms {
				byID[m.ProjectID] = m.Role
			}
			for i, id := range ids {
				if role, ok := byID[id]; ok {
					out[i] = &role
				}
			}
			return out, nil
		}, wait),
	}
}

func (l *loaders) repositoryCount(ctx context.Context, projectID int) (int, error) {
	return l.counts.Load(ctx, projectID)
}

func (l *loaders) storageUsed(ctx context.Context, projectID int) (int64, error) {
	return l.storage.Load(ctx, projectID)
}

func (l *loaders) isSigned(ctx context.Context, a *ent.Artifact) (bool, error) {
	return l.signed.Load(ctx, subject{a.RepositoryID, a.Digest})
}

func (l *loaders) role(ctx context.Context, projectID int) (*member.Role, error) {
	return l.roles.Load(ctx, projectID)
}
