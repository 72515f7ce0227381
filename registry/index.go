package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/accessory"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/blob"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/tag"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/quota"
	"github.com/berth-registry/berth/registry/manifest"
	"github.com/berth-registry/berth/tagrule"
)

// maxConfigSize is the largest image config the index keeps a copy of.
const maxConfigSize = 256 << 10

// cosignAccessoryTag matches the tags cosign gives a signature, an attestation and an SBOM:
// sha256-<hex>.sig, .att and .sbom.
var cosignAccessoryTag = regexp.MustCompile(`^(sha256)-([a-f0-9]{64})\.(sig|att|sbom)$`)

// Indexer records in PostgreSQL what the registry stores: every manifest put, delete, tag and
// untag, each in one transaction, after storage has accepted it. The event that reports the
// change is written in the same transaction (the outbox), so it exists exactly when the change does.
type Indexer struct {
	db     *ent.Client
	events *event.Dispatcher
	log    *slog.Logger
	cache  *cache.Cache   // nil when the cache is off
	quota  *quota.Ledger  // nil: no quotas (tests of the index alone)
	tags   *tagrule.Guard // nil: no immutability rules
}

// NewIndexer returns an indexer writing to db and dispatching events through events.
func NewIndexer(db *ent.Client, events *event.Dispatcher, log *slog.Logger) *Indexer {
	return &Indexer{db: db, events: events, log: log}
}

// UseCache has the indexer invalidate c after each commit, so that this replica (and, through
// Redis, the others) stops serving what the change made stale before the write is answered.
func (ix *Indexer) UseCache(c *cache.Cache) { ix.cache = c }

// pushedManifest is what ManifestPut needs to know about one manifest.
type pushedManifest struct {
	repo      string
	digest    digest.Digest
	mediaType string
	payload   []byte
	tag       string // empty for a push by digest
	config    string // the config JSON for images, when small
}

// projectOf returns the project part of a repository name: "library" for "library/nginx".
func projectOf(repo string) string {
	name, _, _ := strings.Cut(repo, "/")
	return name
}

// ManifestPut records a manifest the registry has just stored, and its tag if it was pushed by tag.
func (ix *Indexer) ManifestPut(ctx context.Context, m pushedManifest) error {
	info, err := manifest.Parse(m.mediaType, m.payload)
	if err != nil {
		return fmt.Errorf("index %s@%s: %w", m.repo, m.digest, err)
	}
	mediaType, artifactType, doc := info.MediaType, info.ArtifactType, info
	now := time.Now().UTC()

	return ix.withTx(ctx, func(tx *ent.Tx, stale *cache.Keys) error {
		if m.tag != "" {
			stale.Tags = append(stale.Tags, cache.TagKey(m.repo, m.tag))
		}
		// The project's row is locked first: its quota counters change one push at a time, and
		// every index write of the project takes its locks in the same order.
		proj, err := tx.Project.Query().Where(project.Name(projectOf(m.repo))).ForUpdate().Only(ctx)
		if err != nil {
			return fmt.Errorf("project of %s: %w", m.repo, err)
		}
		repoID, err := tx.Repository.Create().
			SetName(m.repo).SetProjectID(proj.ID).SetUpdatedAt(now).
			OnConflictColumns(repository.FieldName).
			Update(func(u *ent.RepositoryUpsert) { u.SetUpdatedAt(now) }).
			ID(ctx)
		if err != nil {
			return fmt.Errorf("upsert repository: %w", err)
		}

		// The blobs this manifest stands on, the manifest itself included: garbage collection
		// keeps exactly the blobs some artifact links to.
		blobs := append([]v1.Descriptor{{MediaType: mediaType, Digest: m.digest, Size: int64(len(m.payload))}}, doc.Blobs...)
		size := doc.Size
		var childIDs []int
		if len(doc.Children) > 0 {
			children, err := tx.Artifact.Query().
				Where(artifact.RepositoryID(repoID), artifact.DigestIn(doc.Children...)).
				Select(artifact.FieldID, artifact.FieldSize).All(ctx)
			if err != nil {
				return fmt.Errorf("look up index children: %w", err)
			}
			for _, c := range children {
				childIDs = append(childIDs, c.ID)
				size += c.Size
			}
		}

		artifactID, err := tx.Artifact.Create().
			SetRepositoryID(repoID).SetDigest(m.digest.String()).
			SetMediaType(mediaType).SetArtifactType(artifactType).SetSize(size).
			SetConfig(m.config).SetAnnotations(doc.Annotations).SetPushTime(now).
			OnConflictColumns(artifact.FieldRepositoryID, artifact.FieldDigest).
			Update(func(u *ent.ArtifactUpsert) {
				u.SetMediaType(mediaType).SetArtifactType(artifactType).SetSize(size).
					SetConfig(m.config).SetAnnotations(doc.Annotations).SetPushTime(now)
			}).
			ID(ctx)
		if err != nil {
			return fmt.Errorf("upsert artifact: %w", err)
		}

		blobIDs, err := upsertBlobs(ctx, tx, blobs, now)
		if err != nil {
			return err
		}
		if ix.quota != nil {
			if err := ix.quota.Linked(ctx, tx, proj.ID, artifactID, blobIDs); err != nil {
				return err
			}
		}
		err = tx.Artifact.UpdateOneID(artifactID).
			ClearBlobs().AddBlobIDs(blobIDs...).
			ClearChildren().AddChildIDs(childIDs...).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("link blobs and children: %w", err)
		}

		// A manifest's subject is part of its content, so a push of the same digest names the
		// same one; links made by cosign's tag scheme are kept (the same signature may be tagged
		// for several subjects).
		if doc.Subject != nil {
			if err := tx.Artifact.UpdateOneID(artifactID).SetAccessory(true).Exec(ctx); err != nil {
				return fmt.Errorf("mark accessory: %w", err)
			}
		}
		linked := false
		if doc.Subject != nil {
			linked, err = tx.Accessory.Query().Where(accessory.HasArtifactWith(artifact.ID(artifactID)),
				accessory.SubjectDigest(doc.Subject.Digest.String())).Exist(ctx)
			if err != nil {
				return fmt.Errorf("look up accessory links: %w", err)
			}
		}
		if doc.Subject != nil && !linked {
			err := tx.Accessory.Create().SetType(manifest.AccessoryType(artifactType)).SetSubjectDigest(doc.Subject.Digest.String()).
				SetRepositoryID(repoID).SetArtifactID(artifactID).Exec(ctx)
			if err != nil {
				return fmt.Errorf("link subject: %w", err)
			}
		}
		if m.tag != "" {
			if err := tagArtifact(ctx, tx, repoID, artifactID, m.tag, now); err != nil {
				return err
			}
		}
		return ix.record(ctx, tx, event.Event{Type: event.ArtifactPushed, ProjectName: projectOf(m.repo),
			Repository: m.repo, Digest: m.digest.String(), Tag: m.tag})
	})
}

// upsertBlobs records blobs (touching the ones already known, so a GC window counts from now)
// and returns their ids in any order.
func upsertBlobs(ctx context.Context, tx *ent.Tx, descs []v1.Descriptor, now time.Time) ([]int, error) {
	seen := map[digest.Digest]bool{}
	creates := make([]*ent.BlobCreate, 0, len(descs))
	digests := make([]string, 0, len(descs))
	for _, d := range descs {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		digests = append(digests, d.Digest.String())
		creates = append(creates, tx.Blob.Create().SetDigest(d.Digest.String()).SetMediaType(d.MediaType).
			SetSize(d.Size).SetUpdatedAt(now))
	}
	// A blob marked for garbage collection that a manifest now references goes back to none; the
	// version bump makes the collector's compare-and-set fail. One being deleted (under a live
	// claim: see BlobGuard) is left alone and fails the push below, so the client pushes again
	// (and uploads it again).
	err := tx.Blob.CreateBulk(creates...).
		OnConflict(sql.ConflictColumns(blob.FieldDigest),
			sql.UpdateWhere(sql.ExprP("NOT "+beingDeleted("blobs.status", "blobs.claimed_by")))).
		Update(func(u *ent.BlobUpsert) {
			u.SetUpdatedAt(now).SetStatus(blob.StatusNone).AddVersion(1).ClearClaimedBy()
			u.UpdateMediaType().UpdateSize() // an upload recorded neither
		}).
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("upsert blobs: %w", err)
	}
	rows, err := tx.Blob.Query().Where(blob.DigestIn(digests...)).Select(blob.FieldID, blob.FieldDigest, blob.FieldStatus).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("look up blobs: %w", err)
	}
	ids := make([]int, len(rows))
	var deleting []string
	for i, b := range rows {
		if b.Status == blob.StatusDeleting {
			deleting = append(deleting, b.Digest)
		}
		ids[i] = b.ID
	}
	if len(deleting) > 0 {
		// Left `deleting` by the upsert: by a live collector, or one whose claim lapsed since.
		live, err := tx.Blob.Query().Where(blob.DigestIn(deleting...), func(s *sql.Selector) {
			s.Where(sql.ExprP(beingDeleted(s.C(blob.FieldStatus), s.C(blob.FieldClaimedBy))))
		}).Select(blob.FieldDigest).Strings(ctx)
		if err != nil {
			return nil, fmt.Errorf("look up blobs: %w", err)
		}
		if len(live) > 0 {
			return nil, fmt.Errorf("blob %s is being garbage-collected: push it again", live[0])
		}
		return nil, fmt.Errorf("blob %s was being garbage-collected by a collector that has stopped: push it again", deleting[0])
	}
	return ids, nil
}

// tagArtifact points a tag at an artifact, moving it if it pointed elsewhere. A cosign accessory
// tag (signature, attestation, SBOM) also links the accessory to the artifact it describes, unless
// its manifest's subject already did.
func tagArtifact(ctx context.Context, tx *ent.Tx, repoID, artifactID int, name string, now time.Time) error {
	err := tx.Tag.Create().SetRepositoryID(repoID).SetArtifactID(artifactID).SetName(name).SetPushTime(now).
		OnConflictColumns(tag.FieldRepositoryID, tag.FieldName).
		Update(func(u *ent.TagUpsert) { u.SetArtifactID(artifactID).SetPushTime(now) }).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("upsert tag %s: %w", name, err)
	}
	if sig := cosignAccessoryTag.FindStringSubmatch(name); sig != nil {
		exists, err := tx.Accessory.Query().Where(accessory.HasArtifactWith(artifact.ID(artifactID)), accessory.SubjectDigest(sig[1]+":"+sig[2])).Exist(ctx)
		if err != nil || exists {
			return err
		}
		err = tx.Accessory.Create().SetType(manifest.CosignTagAccessory(sig[3])).SetSubjectDigest(sig[1] + ":" + sig[2]).
			SetRepositoryID(repoID).SetArtifactID(artifactID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("link signature: %w", err)
		}
		if err := tx.Artifact.UpdateOneID(artifactID).SetAccessory(true).Exec(ctx); err != nil {
			return fmt.Errorf("mark accessory: %w", err)
		}
	}
	return nil
}

// Tagged records that a tag now points at dgst.
func (ix *Indexer) Tagged(ctx context.Context, repo, name string, dgst digest.Digest) error {
	return ix.withTx(ctx, func(tx *ent.Tx, stale *cache.Keys) error {
		stale.Tags = append(stale.Tags, cache.TagKey(repo, name))
		a, err := tx.Artifact.Query().
			Where(artifact.Digest(dgst.String()), artifact.HasRepositoryWith(repository.Name(repo))).
			Only(ctx)
		if err != nil {
			return fmt.Errorf("artifact %s@%s: %w", repo, dgst, err)
		}
		current, err := tx.Tag.Query().Where(tag.RepositoryID(a.RepositoryID), tag.Name(name)).Only(ctx)
		if err == nil && current.ArtifactID == a.ID {
			return nil // the push already recorded it
		}
		if err := tagArtifact(ctx, tx, a.RepositoryID, a.ID, name, time.Now().UTC()); err != nil {
			return err
		}
		return ix.record(ctx, tx, event.Event{Type: event.TagCreated, ProjectName: projectOf(repo), Repository: repo, Digest: dgst.String(), Tag: name})
	})
}

// Untagged records that a tag was removed.
func (ix *Indexer) Untagged(ctx context.Context, repo, name string) error {
	return ix.withTx(ctx, func(tx *ent.Tx, stale *cache.Keys) error {
		stale.Tags = append(stale.Tags, cache.TagKey(repo, name))
		// The event names what the tag named, so that a replica of it deletes the tag only
		// where it still names that.
		cur, err := tx.Tag.Query().Where(tag.Name(name), tag.HasRepositoryWith(repository.Name(repo))).WithArtifact().Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.Tag.DeleteOne(cur).Exec(ctx); err != nil {
			return err
		}
		var dgst string
		if cur.Edges.Artifact != nil {
			dgst = cur.Edges.Artifact.Digest
		}
		return ix.record(ctx, tx, event.Event{Type: event.TagDeleted, ProjectName: projectOf(repo), Repository: repo, Digest: dgst, Tag: name})
	})
}

// ManifestDeleted records that a manifest is gone from storage, with its tags.
func (ix *Indexer) ManifestDeleted(ctx context.Context, repo string, dgst digest.Digest) error {
	return ix.withTx(ctx, func(tx *ent.Tx, stale *cache.Keys) error {
		stale.Manifests = append(stale.Manifests, cache.ManifestKey(repo, dgst.String()))
		// The tags go with the artifact: their cached digests go too.
		tags, err := tx.Tag.Query().
			Where(tag.HasArtifactWith(artifact.Digest(dgst.String()), artifact.HasRepositoryWith(repository.Name(repo)))).
			Select(tag.FieldName).Strings(ctx)
		if err != nil {
			return fmt.Errorf("tags of %s@%s: %w", repo, dgst, err)
		}
		for _, t := range tags {
			stale.Tags = append(stale.Tags, cache.TagKey(repo, t))
		}
		proj, err := tx.Project.Query().Where(project.Name(projectOf(repo))).ForUpdate().Only(ctx)
		if err != nil {
			return fmt.Errorf("project of %s: %w", repo, err)
		}
		a, err := tx.Artifact.Query().
			Where(artifact.Digest(dgst.String()), artifact.HasRepositoryWith(repository.Name(repo))).
			Select(artifact.FieldID).Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("artifact %s@%s: %w", repo, dgst, err)
		}
		if ix.quota != nil {
			if err := ix.quota.Unlinking(ctx, tx, proj.ID, a.ID); err != nil {
				return err
			}
		}
		if err := tx.Artifact.DeleteOneID(a.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete artifact %s@%s: %w", repo, dgst, err)
		}
		if err := ix.record(ctx, tx, event.Event{Type: event.ArtifactDeleted, ProjectName: projectOf(repo), Repository: repo, Digest: dgst.String()}); err != nil {
			return err
		}
		return ix.dropIfEmpty(ctx, tx, repo)
	})
}

// dropIfEmpty deletes repo's row once its last artifact is gone, so that an emptied project can be
// deleted (as Harbor drops a repository with its last artifact). It is the one place of that rule:
// every manifest delete comes here, whether over /v2 (crane delete, docker) or through
// artifact.Service. It runs in the delete's transaction, which holds the project's row lock that
// every push takes first (ManifestPut): a concurrent push into repo either lands before (and the
// repository stays) or waits and recreates the row after. Storage keeps the repository's empty
// directories; a later push reuses them.
func (ix *Indexer) dropIfEmpty(ctx context.Context, tx *ent.Tx, repo string) error {
	n, err := tx.Repository.Delete().
		Where(repository.Name(repo), repository.Not(repository.HasArtifacts())).Exec(ctx)
	if err != nil {
		return fmt.Errorf("drop empty repository %s: %w", repo, err)
	}
	if n == 0 {
		return nil
	}
	return ix.record(ctx, tx, event.Event{Type: event.RepositoryDeleted, ProjectName: projectOf(repo), Repository: repo})
}

// withTx runs fn in a transaction and, once it has committed, invalidates the cache keys fn
// named stale and has its events dispatched. Nothing is invalidated (or cached) inside the
// transaction: a rollback leaves the cache as it was.
func (ix *Indexer) withTx(ctx context.Context, fn func(tx *ent.Tx, stale *cache.Keys) error) error {
	tx, err := ix.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var stale cache.Keys
	if err := fn(tx, &stale); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if ix.cache != nil {
		ix.cache.InvalidateKeys(context.WithoutCancel(ctx), stale)
	}
	ix.events.Kick()
	return nil
}

// record writes an event into tx, naming the principal of ctx as the operator.
func (ix *Indexer) record(ctx context.Context, tx *ent.Tx, e event.Event) error {
	e.Operator = auth.PrincipalFrom(ctx).Name
	e.SourceIP = auth.SourceIPFrom(ctx)
	return event.Record(ctx, tx, e)
}

// The wrappers below sit between Distribution's handlers and its storage: each calls storage
// first and, once storage has succeeded, the indexer.

// indexedNamespace wraps every repository of a namespace with the indexer.
type indexedNamespace struct {
	distribution.Namespace
	ix    *Indexer
	guard *BlobGuard
}

func (n indexedNamespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	r, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return indexedRepository{Repository: r, ix: n.ix, guard: n.guard}, nil
}

// Remove deletes a whole repository from storage; Distribution looks for this method.
func (n indexedNamespace) Remove(ctx context.Context, name reference.Named) error {
	remover, ok := n.Namespace.(distribution.RepositoryRemover)
	if !ok {
		return distribution.ErrUnsupported
	}
	return remover.Remove(ctx, name)
}

type indexedRepository struct {
	distribution.Repository
	ix    *Indexer
	guard *BlobGuard
}

func (r indexedRepository) Blobs(ctx context.Context) distribution.BlobStore {
	bs := r.Repository.Blobs(ctx)
	if r.guard != nil {
		bs = guardedBlobs{BlobStore: bs, guard: r.guard}
	}
	if r.ix.quota != nil {
		// Outside the guard: an upload the quota refuses never claims its blob.
		bs = quotaBlobs{BlobStore: bs, ix: r.ix, repo: r.Named().Name()}
	}
	return bs
}

func (r indexedRepository) Manifests(ctx context.Context, options ...distribution.ManifestServiceOption) (distribution.ManifestService, error) {
	ms, err := r.Repository.Manifests(ctx, options...)
	if err != nil {
		return nil, err
	}
	return indexedManifests{ManifestService: ms, repo: r}, nil
}

func (r indexedRepository) Tags(ctx context.Context) distribution.TagService {
	return indexedTags{TagService: r.Repository.Tags(ctx), repo: r}
}

type indexedManifests struct {
	distribution.ManifestService
	repo indexedRepository
}

func (m indexedManifests) Put(ctx context.Context, mf distribution.Manifest, options ...distribution.ManifestServiceOption) (digest.Digest, error) {
	mediaType, payload, err := mf.Payload()
	if err != nil {
		return "", fmt.Errorf("read manifest payload: %w", err)
	}
	// A manifest the index cannot record is refused before storage keeps it.
	info, err := manifest.Parse(mediaType, payload)
	if err != nil {
		return "", errcode.ErrorCodeManifestInvalid.WithDetail(err.Error())
	}
	ix, repo := m.repo.ix, m.repo.Named().Name()
	pm := pushedManifest{repo: repo, digest: digest.FromBytes(payload), mediaType: mediaType, payload: payload}
	for _, o := range options {
		if t, ok := o.(distribution.WithTagOption); ok {
			pm.tag = t.Tag
		}
	}
	// So is one that would move an immutable tag, or that the project's quota cannot hold.
	if pm.tag != "" {
		if err := ix.CheckTags(ctx, repo, pm.digest, pm.tag); err != nil {
			return "", ix.indexError(deniedError(err))
		}
	}
	reserved, err := ix.reserveManifest(ctx, repo, pm.digest, payload, info.Blobs)
	if err != nil {
		return "", ix.indexError(deniedError(err))
	}
	dgst, err := m.ManifestService.Put(ctx, mf, options...)
	if err == nil {
		pm.digest = dgst
		pm.config = m.repo.readConfig(ctx, payload)
		err = ix.indexError(ix.ManifestPut(ctx, pm))
	}
	if err != nil && len(reserved) > 0 {
		if rerr := ix.quota.Release(context.WithoutCancel(ctx), projectOf(repo), reserved); rerr != nil {
			ix.log.Error("quota: release after a failed manifest push", "repository", repo, "err", rerr)
		}
	}
	return dgst, err
}

func (m indexedManifests) Delete(ctx context.Context, dgst digest.Digest) error {
	if err := m.repo.ix.CheckArtifactDelete(ctx, m.repo.Named().Name(), dgst); err != nil {
		return m.repo.ix.indexError(err)
	}
	err := m.ManifestService.Delete(ctx, dgst)
	if err != nil && !errors.Is(err, distribution.ErrBlobUnknown) {
		return err
	}
	// Storage no longer has it, whether it went now or before: the index must agree.
	if ixErr := m.repo.ix.ManifestDeleted(ctx, m.repo.Named().Name(), dgst); ixErr != nil {
		return m.repo.ix.indexError(ixErr)
	}
	return err
}

// readConfig returns an image's config JSON when it is small enough to keep, else "".
func (r indexedRepository) readConfig(ctx context.Context, payload []byte) string {
	info, err := manifest.Parse("", payload)
	if err != nil || info.Config == nil || info.Config.Size > maxConfigSize || !strings.HasSuffix(info.Config.MediaType, "json") {
		return ""
	}
	b, err := r.Blobs(ctx).Get(ctx, info.Config.Digest)
	if err != nil || !json.Valid(b) {
		return ""
	}
	return string(b)
}

type indexedTags struct {
	distribution.TagService
	repo indexedRepository
}

func (t indexedTags) Tag(ctx context.Context, name string, desc v1.Descriptor) error {
	if err := t.repo.ix.CheckTags(ctx, t.repo.Named().Name(), desc.Digest, name); err != nil {
		return t.repo.ix.indexError(err)
	}
	if err := t.TagService.Tag(ctx, name, desc); err != nil {
		return err
	}
	return t.repo.ix.indexError(t.repo.ix.Tagged(ctx, t.repo.Named().Name(), name, desc.Digest))
}

func (t indexedTags) Untag(ctx context.Context, name string) error {
	if err := t.repo.ix.CheckTags(ctx, t.repo.Named().Name(), "", name); err != nil {
		return t.repo.ix.indexError(err)
	}
	if err := t.TagService.Untag(ctx, name); err != nil {
		return err
	}
	return t.repo.ix.indexError(t.repo.ix.Untagged(ctx, t.repo.Named().Name(), name))
}
