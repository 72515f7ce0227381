package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/tag"
	"github.com/berth-registry/berth/quota"
	"github.com/berth-registry/berth/tagrule"
)

// The index middleware asks two policies before storage is written: the project's tag
// immutability rules (tagrule.Guard, the one decision for every door, since every write goes
// through this middleware) and its storage quota (quota.Ledger: reserve first, write, and the
// indexer turns the reservation into usage; a failed write gives it back).

// UseQuota has pushes reserve storage quota before they write, and the index keep usage.
func (ix *Indexer) UseQuota(l *quota.Ledger) { ix.quota = l }

// UseTagRules has every write that would move or delete a tag ask g first.
func (ix *Indexer) UseTagRules(g *tagrule.Guard) { ix.tags = g }

// CheckTags asks the tag rules whether tags of repo may point at to (deleted when to is ""),
// given what they point at in the index now. It is nil without rules.
func (ix *Indexer) CheckTags(ctx context.Context, repo string, to digest.Digest, names ...string) error {
	if ix.tags == nil || len(names) == 0 {
		return nil
	}
	current, err := ix.db.Tag.Query().
		Where(tag.NameIn(names...), tag.HasRepositoryWith(repository.Name(repo))).
		WithArtifact(func(q *ent.ArtifactQuery) { q.Select(artifact.FieldDigest) }).All(ctx)
	if err != nil {
		return fmt.Errorf("tags %v of %s: %w", names, repo, err)
	}
	changes := make([]tagrule.Change, 0, len(current))
	for _, t := range current {
		if t.Edges.Artifact != nil {
			changes = append(changes, tagrule.Change{Tag: t.Name, From: t.Edges.Artifact.Digest, To: to.String()})
		}
	}
	return ix.tags.Check(ctx, repo, changes...)
}

// CheckArtifactDelete asks the tag rules whether every tag pointing at dgst in repo may go with it.
func (ix *Indexer) CheckArtifactDelete(ctx context.Context, repo string, dgst digest.Digest) error {
	if ix.tags == nil {
		return nil
	}
	names, err := ix.db.Tag.Query().
		Where(tag.HasArtifactWith(artifact.Digest(dgst.String()), artifact.HasRepositoryWith(repository.Name(repo)))).
		Select(tag.FieldName).Strings(ctx)
	if err != nil {
		return fmt.Errorf("tags of %s@%s: %w", repo, dgst, err)
	}
	return ix.CheckTags(ctx, repo, "", names...)
}

// checkRepositoryDelete asks the tag rules whether every tag of repo may go.
func (ix *Indexer) checkRepositoryDelete(ctx context.Context, repo string) error {
	if ix.tags == nil {
		return nil
	}
	names, err := ix.db.Tag.Query().Where(tag.HasRepositoryWith(repository.Name(repo))).Select(tag.FieldName).Strings(ctx)
	if err != nil {
		return fmt.Errorf("tags of %s: %w", repo, err)
	}
	return ix.CheckTags(ctx, repo, "", names...)
}

// deniedError is what Distribution answers for a refusal: 403 DENIED with its message. (The /v2
// door answers immutability refusals itself first, with 412: access.go.)
func deniedError(err error) error {
	var refusal *tagrule.Refusal
	var exceeded *quota.Exceeded
	if errors.As(err, &refusal) || errors.As(err, &exceeded) {
		return errcode.ErrorCodeDenied.WithMessage(err.Error())
	}
	return err
}

// reserveManifest reserves quota for a manifest about to be stored in repo: the manifest itself
// and every blob it references.
func (ix *Indexer) reserveManifest(ctx context.Context, repo string, dgst digest.Digest, payload []byte, blobs []v1.Descriptor) ([]string, error) {
	if ix.quota == nil {
		return nil, nil
	}
	want := []quota.Blob{{Digest: dgst.String(), Size: int64(len(payload))}}
	for _, b := range blobs {
		want = append(want, quota.Blob{Digest: b.Digest.String(), Size: b.Size})
	}
	return ix.quota.Reserve(ctx, projectOf(repo), want)
}

// quotaBlobs reserves quota for each blob upload before it is committed to its place.
type quotaBlobs struct {
	distribution.BlobStore
	ix   *Indexer
	repo string
}

func (b quotaBlobs) Create(ctx context.Context, options ...distribution.BlobCreateOption) (distribution.BlobWriter, error) {
	w, err := b.BlobStore.Create(ctx, options...)
	if err != nil {
		return nil, err
	}
	return quotaWriter{BlobWriter: w, ix: b.ix, repo: b.repo}, nil
}

func (b quotaBlobs) Resume(ctx context.Context, id string) (distribution.BlobWriter, error) {
	w, err := b.BlobStore.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	return quotaWriter{BlobWriter: w, ix: b.ix, repo: b.repo}, nil
}

type quotaWriter struct {
	distribution.BlobWriter
	ix   *Indexer
	repo string
}

// Commit reserves the blob's size (nothing if the project already holds the blob) and then
// commits; an upload the quota cannot hold is cancelled, so nothing of it stays, and a commit
// that fails gives the reservation back.
func (w quotaWriter) Commit(ctx context.Context, provisional v1.Descriptor) (v1.Descriptor, error) {
	if provisional.Digest == "" {
		return w.BlobWriter.Commit(ctx, provisional)
	}
	project := projectOf(w.repo)
	reserved, err := w.ix.quota.Reserve(ctx, project, []quota.Blob{{Digest: provisional.Digest.String(), Size: w.Size()}})
	var exceeded *quota.Exceeded
	if errors.As(err, &exceeded) {
		_ = w.BlobWriter.Cancel(context.WithoutCancel(ctx))
		return v1.Descriptor{}, errcode.ErrorCodeDenied.WithMessage(err.Error())
	}
	if err != nil {
		return v1.Descriptor{}, outageError(err)
	}
	desc, err := w.BlobWriter.Commit(ctx, provisional)
	if err != nil {
		if rerr := w.ix.quota.Release(context.WithoutCancel(ctx), project, reserved); rerr != nil {
			w.ix.log.Error("quota: release after a failed upload", "repository", w.repo, "err", rerr)
		}
	}
	return desc, err
}
