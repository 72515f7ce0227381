package signature

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/accessory"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/ent/trustedkey"
	"github.com/berth-registry/berth/event"
)

// The accessory types, as Harbor names them (registry/index.go records them).
const (
	TypeCosign      = "signature.cosign"
	TypeNotation    = "signature.notation"
	TypeAttestation = "attestation.cosign"
	TypeSBOM        = "sbom.harbor"
	TypeReferrer    = "subject.accessory"
)

// SignatureTypes are the accessory types that are signatures, whose verification sets the
// signature status of their subject.
var SignatureTypes = []string{TypeCosign, TypeNotation}

// Storage reads what the registry stores (registry.Content).
type Storage interface {
	Manifest(ctx context.Context, repo string, dgst digest.Digest) (string, []byte, error)
	Open(ctx context.Context, repo string, dgst digest.Digest) (io.ReadCloser, error)
}

// Verifier verifies the signatures of artifacts against their project's trusted keys and records
// each artifact's signature status. It is what the verification jobs run.
type Verifier struct {
	db      *ent.Client
	storage Storage
	log     *slog.Logger
	kick    func() // has recorded events dispatched at once (nil: at the dispatcher's sweep)
}

// NewVerifier returns a verifier over db and storage.
func NewVerifier(db *ent.Client, storage Storage, log *slog.Logger, kick func()) *Verifier {
	return &Verifier{db: db, storage: storage, log: log, kick: kick}
}

// Status is the signature status of one artifact.
type Status struct {
	Status entartifact.SignatureStatus
	Key    string // VERIFIED: the key that verified a signature
	Reason string // UNVERIFIED: why none verified
}

// Keys loads the keys project projectID trusts: its own and the system-wide ones. Keys that no
// longer parse (none should: they are checked when added) are skipped.
func (v *Verifier) Keys(ctx context.Context, projectID int) ([]Key, error) {
	rows, err := v.db.TrustedKey.Query().
		Where(trustedkey.Or(trustedkey.ProjectIDIsNil(), trustedkey.ProjectID(projectID))).
		Order(ent.Asc(trustedkey.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("trusted keys of project %d: %w", projectID, err)
	}
	keys := make([]Key, 0, len(rows))
	for _, r := range rows {
		k, _, err := ParseKey(r.Name, Kind(r.Kind), r.Pem)
		if err != nil {
			v.log.Warn("signature: a trusted key does not parse", "key", r.ID, "err", err)
			continue
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Evaluate works out the signature status of subject in repo from the signatures that refer to
// it, with keys. It reads storage and the index; it writes nothing.
func (v *Verifier) Evaluate(ctx context.Context, repo *ent.Repository, subject digest.Digest, keys []Key) (Status, error) {
	sigs, err := v.db.Accessory.Query().
		Where(accessory.RepositoryID(repo.ID), accessory.SubjectDigest(subject.String()), accessory.TypeIn(SignatureTypes...)).
		WithArtifact().Order(ent.Asc(accessory.FieldID)).Limit(100).All(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("signatures of %s@%s: %w", repo.Name, subject, err)
	}
	if len(sigs) == 0 {
		return Status{Status: entartifact.SignatureStatusUnsigned}, nil
	}
	if len(keys) == 0 {
		return Status{Status: entartifact.SignatureStatusUnverified, Reason: "the project trusts no key"}, nil
	}
	blobs := func(d digest.Digest) ([]byte, error) {
		rc, err := v.storage.Open(ctx, repo.Name, d)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
		if err == nil && len(b) > maxPayload {
			err = errors.New("too large")
		}
		return b, err
	}
	reason := ""
	for _, s := range sigs {
		_, manifest, err := v.storage.Manifest(ctx, repo.Name, digest.Digest(s.Edges.Artifact.Digest))
		if err != nil {
			reason = "a signature cannot be read from storage"
			continue
		}
		var o Outcome
		switch s.Type {
		case TypeCosign:
			o = VerifyCosign(manifest, subject, keys, blobs)
		case TypeNotation:
			o = VerifyNotation(manifest, subject, keys, blobs)
		}
		if o.Verified() {
			return Status{Status: entartifact.SignatureStatusVerified, Key: o.Key}, nil
		}
		if reason == "" {
			reason = o.Reason
		}
	}
	return Status{Status: entartifact.SignatureStatusUnverified, Reason: truncate(reason, 500)}, nil
}

// VerifyArtifact re-verifies the artifact dgst of repository repoName, or, when dgst is itself an
// accessory, the artifact it refers to, and records the status. An artifact the index does not
// hold (deleted since, or a subject not pushed yet) is left alone.
func (v *Verifier) VerifyArtifact(ctx context.Context, repoName string, dgst digest.Digest) error {
	repo, err := v.db.Repository.Query().Where(repository.Name(repoName)).WithProject().Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("repository %s: %w", repoName, err)
	}
	links, err := v.db.Accessory.Query().
		Where(accessory.RepositoryID(repo.ID), accessory.HasArtifactWith(entartifact.Digest(dgst.String()))).Limit(100).All(ctx)
	if err != nil {
		return fmt.Errorf("accessory links of %s@%s: %w", repoName, dgst, err)
	}
	subjects := []digest.Digest{dgst}
	if len(links) > 0 {
		// The same signature may be tagged for several subjects (cosign's tag scheme).
		subjects = subjects[:0]
		for _, l := range links {
			subjects = append(subjects, digest.Digest(l.SubjectDigest))
		}
	}
	keys, err := v.Keys(ctx, repo.ProjectID)
	if err != nil {
		return err
	}
	for _, s := range subjects {
		if err := v.record(ctx, repo, s, keys); err != nil {
			return err
		}
	}
	return nil
}

// VerifyRepository re-verifies every artifact of a repository that is signed or was: after an
// accessory was deleted, whose subject the event no longer names.
func (v *Verifier) VerifyRepository(ctx context.Context, repoName string) error {
	repo, err := v.db.Repository.Query().Where(repository.Name(repoName)).WithProject().Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("repository %s: %w", repoName, err)
	}
	return v.verifyRepo(ctx, repo)
}

func (v *Verifier) verifyRepo(ctx context.Context, repo *ent.Repository) error {
	keys, err := v.Keys(ctx, repo.ProjectID)
	if err != nil {
		return err
	}
	signed, err := v.db.Accessory.Query().Where(accessory.RepositoryID(repo.ID), accessory.TypeIn(SignatureTypes...)).
		Unique(true).Select(accessory.FieldSubjectDigest).Strings(ctx)
	if err != nil {
		return fmt.Errorf("signed artifacts of %s: %w", repo.Name, err)
	}
	was, err := v.db.Artifact.Query().Where(entartifact.RepositoryID(repo.ID),
		entartifact.SignatureStatusNEQ(entartifact.SignatureStatusUnsigned)).Select(entartifact.FieldDigest).Strings(ctx)
	if err != nil {
		return fmt.Errorf("signed artifacts of %s: %w", repo.Name, err)
	}
	seen := map[string]bool{}
	for _, d := range append(signed, was...) {
		if seen[d] {
			continue
		}
		seen[d] = true
		if err := v.record(ctx, repo, digest.Digest(d), keys); err != nil {
			return err
		}
	}
	return nil
}

// VerifyProject re-verifies every signed artifact of project projectID, or of every project when
// projectID is 0 (a system-wide key changed). It is idempotent: a job killed half-way is run again.
func (v *Verifier) VerifyProject(ctx context.Context, projectID int) error {
	q := v.db.Repository.Query().WithProject()
	if projectID != 0 {
		q = q.Where(repository.HasProjectWith(project.ID(projectID)))
	}
	repos, err := q.Order(ent.Asc(repository.FieldID)).All(ctx)
	if err != nil {
		return fmt.Errorf("repositories to verify: %w", err)
	}
	for _, repo := range repos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := v.verifyRepo(ctx, repo); err != nil {
			return err
		}
	}
	return nil
}

// record evaluates subject and, when its status changed, stores it with an event, and tells every
// replica to forget its cached pull decisions (the registry caches the status of warm pulls under
// the access generation), all in one transaction.
func (v *Verifier) record(ctx context.Context, repo *ent.Repository, subject digest.Digest, keys []Key) error {
	a, err := v.db.Artifact.Query().Where(entartifact.RepositoryID(repo.ID), entartifact.Digest(subject.String())).Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("artifact %s@%s: %w", repo.Name, subject, err)
	}
	start := time.Now()
	st, err := v.Evaluate(ctx, repo, subject, keys)
	if err != nil {
		return err
	}
	v.log.Debug("signature: evaluated", "repository", repo.Name, "digest", subject, "status", st.Status, "took", time.Since(start))
	if a.SignatureStatus == st.Status && a.SignatureKey == st.Key && a.SignatureReason == st.Reason {
		return nil
	}
	tx, err := v.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	n, err := tx.Artifact.Update().Where(entartifact.ID(a.ID)).
		SetSignatureStatus(st.Status).SetSignatureKey(st.Key).SetSignatureReason(st.Reason).Save(ctx)
	if err == nil && n > 0 {
		_, err = tx.ExecContext(ctx, "SELECT pg_notify($1, '')", cache.AccessChannel)
	}
	if err == nil && n > 0 && st.Status != a.SignatureStatus && st.Status != entartifact.SignatureStatusUnsigned {
		e := event.Event{Type: event.SignatureVerified, ProjectID: repo.ProjectID, Repository: repo.Name,
			Digest: subject.String(), Tag: st.Key, Operator: "system"}
		if repo.Edges.Project != nil {
			e.ProjectName = repo.Edges.Project.Name
		}
		if st.Status == entartifact.SignatureStatusUnverified {
			e.Type, e.Tag = event.SignatureFailed, ""
		}
		err = event.Record(ctx, tx, e)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("record signature status of %s@%s: %w", repo.Name, subject, err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record signature status of %s@%s: commit: %w", repo.Name, subject, err)
	}
	if v.kick != nil {
		v.kick()
	}
	return nil
}
