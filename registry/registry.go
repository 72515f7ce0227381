// Package registry is Berth's OCI side: the embedded Distribution application, the access layer in
// front of it (authentication, the permission table, the catalog and referrers from the index),
// and the namespace middleware that indexes every push and delete into PostgreSQL. It stores and
// serves content; it does not decide policy beyond asking auth.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	registrymiddleware "github.com/distribution/distribution/v3/registry/middleware/registry"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	// The storage drivers Berth can be configured with.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/azure"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/gcs"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/middleware/redirect"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/cache"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/accessory"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
)

// middlewareName is the name Berth's namespace middleware is registered under in Distribution.
const middlewareName = "berth-index"

func init() {
	// Distribution finds middleware by name in a registry of its own; the options carry the
	// *Registry being built, so nothing global beyond the name is shared.
	err := registrymiddleware.Register(middlewareName, func(_ context.Context, ns distribution.Namespace, _ storagedriver.StorageDriver, options map[string]any) (distribution.Namespace, error) {
		r, ok := options["registry"].(*Registry)
		if !ok {
			return nil, errors.New("berth-index middleware: no registry in options")
		}
		r.ns = indexedNamespace{Namespace: ns, ix: r.indexer, guard: r.guard}
		return r.ns, nil
	})
	if err != nil {
		panic(err)
	}
}

// Config is what the registry needs from Berth's configuration.
type Config struct {
	// DataDir holds the filesystem storage (under registry/) and the upload secret.
	DataDir string
	// Storage is a Distribution storage section, e.g. {"s3": {"bucket": …}}. Empty means the
	// filesystem driver under DataDir.
	Storage map[string]map[string]any
	// Redirect answers blob GETs with a redirect to the storage's own (presigned) URL, where the
	// driver offers one (s3, gcs, azure); access is checked before. Off: Berth streams blobs.
	Redirect bool
	// Middleware is Distribution's storage middleware, e.g. {Name: "redirect", Options:
	// {"baseurl": "https://cdn.example.com"}}.
	Middleware []StorageMiddleware
	// HTTPSecret signs upload state; every replica must have the same. Empty: a secret kept in
	// DataDir/keys (a single process, or tests).
	HTTPSecret string
	// ExternalURL is where clients reach Berth; empty means the scheme and host of each request.
	ExternalURL string
	// Audit records pulls (when its settings say so); nil records nothing.
	Audit Auditor
	// GCWindow is how long a pushed, HEADed or referenced blob is never a garbage collection
	// candidate; zero means DefaultGCWindow.
	GCWindow time.Duration
	// PullPolicy refuses pulls of vulnerable or unscanned artifacts where a project says so; nil
	// allows every pull.
	PullPolicy PullPolicy
}

// StorageMiddleware is one entry of Distribution's storage middleware list.
type StorageMiddleware struct {
	Name    string         `yaml:"name"`
	Options map[string]any `yaml:"options"`
}

// storageKeys are the keys of a Distribution storage section that are not drivers: Berth sets
// them itself.
var storageKeys = map[string]string{
	"delete": "Berth always allows deletes", "redirect": "use storage_redirect (BERTH_STORAGE_REDIRECT)",
	"maintenance": "Berth purges uploads itself (upload_purge_*)", "cache": "Berth caches in its own cache tier",
	"tag": "not supported",
}

// CheckStorage reports a storage section Berth cannot use: not exactly one driver, a key Berth
// sets itself, or a redirect asked of a driver that cannot presign.
func CheckStorage(storage map[string]map[string]any, redirect bool) error {
	var drivers []string
	for name := range storage {
		if why, ok := storageKeys[name]; ok {
			return fmt.Errorf("storage: %q cannot be set here: %s", name, why)
		}
		drivers = append(drivers, name)
	}
	if len(drivers) > 1 {
		return fmt.Errorf("storage: configure one driver, not %d (%s)", len(drivers), strings.Join(drivers, ", "))
	}
	if redirect {
		if len(drivers) == 0 || drivers[0] == "filesystem" || drivers[0] == "inmemory" {
			return errors.New("storage_redirect needs an object store driver (s3, gcs, azure): the filesystem cannot presign URLs")
		}
	}
	return nil
}

// PullPolicy decides whether a manifest may be pulled: a non-empty reason refuses it (412).
type PullPolicy interface {
	Check(ctx context.Context, proj *ent.Project, repo, reference string) (reason string, err error)
}

// Auditor is the part of the audit log the registry writes to.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry) error
	LogPulls() bool
}

// Registry serves /v2/ and offers the same storage operations to the rest of Berth.
type Registry struct {
	app     *handlers.App
	ns      distribution.Namespace
	indexer *Indexer
	guard   *BlobGuard
	driver  storagedriver.StorageDriver
	auth    *auth.Service
	db      *ent.Client
	log     *slog.Logger

	externalURL string
	pulls       *pullRecorder
	audit       Auditor
	policy      PullPolicy
	cache       *cache.Cache // nil: every request goes through Distribution
	proxy       *proxyCache  // nil: proxy-cache projects serve what they hold (proxy.go)
}

// New builds the embedded Distribution application. Its configuration is made here in code, never
// read from the environment, so a stray REGISTRY_* variable cannot change where blobs go.
func New(ctx context.Context, cfg Config, db *ent.Client, authn *auth.Service, indexer *Indexer, log *slog.Logger) (*Registry, error) {
	r := &Registry{indexer: indexer, auth: authn, db: db, log: log, externalURL: cfg.ExternalURL, audit: cfg.Audit,
		guard: NewBlobGuard(db, cfg.GCWindow), policy: cfg.PullPolicy}
	dcfg, err := r.distributionConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	forwardDistributionLogs(ctx, log)
	app, err := newApp(ctx, dcfg)
	if err != nil {
		return nil, err
	}
	r.app = app
	r.pulls = newPullRecorder(db, indexer.events, log)
	if r.ns == nil {
		return nil, errors.New("registry: the index middleware was not applied")
	}
	return r, nil
}

// storageSection is the Distribution storage section cfg names, with its driver built once to
// validate it (Distribution panics on a bad one).
func storageSection(ctx context.Context, cfg Config) (configuration.Storage, storagedriver.StorageDriver, error) {
	storage := configuration.Storage{}
	if len(cfg.Storage) == 0 {
		storage["filesystem"] = configuration.Parameters{"rootdirectory": filepath.Join(cfg.DataDir, "registry")}
	} else {
		for name, params := range cfg.Storage {
			storage[name] = configuration.Parameters(params)
		}
	}
	driverName := storage.Type()
	if driverName == "" {
		return nil, nil, errors.New("registry storage: exactly one storage driver must be configured")
	}
	driver, err := factory.Create(ctx, driverName, storage.Parameters())
	if err != nil {
		return nil, nil, fmt.Errorf("registry storage %q: %w", driverName, err)
	}
	return storage, driver, nil
}

// StorageDriver returns a driver on the storage the registry is configured with, for processes
// that need the storage without serving the registry (berth worker). Paths under /docker belong
// to Distribution; Berth's own files (CVE exports) live beside them.
func StorageDriver(ctx context.Context, cfg Config) (storagedriver.StorageDriver, error) {
	_, driver, err := storageSection(ctx, cfg)
	return driver, err
}

func (r *Registry) distributionConfig(ctx context.Context, cfg Config) (*configuration.Configuration, error) {
	// Garbage collection, upload purging and CVE export files go through this driver instance;
	// Distribution makes its own over the same storage.
	storage, driver, err := storageSection(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r.driver = driver
	storage["delete"] = configuration.Parameters{"enabled": true}
	storage["redirect"] = configuration.Parameters{"disable": !cfg.Redirect}
	// Berth purges uploads itself (worker/gc), on its schedule and with a record of each run.
	storage["maintenance"] = configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}}

	secret := cfg.HTTPSecret
	if secret == "" {
		if secret, err = loadOrCreateSecret(filepath.Join(cfg.DataDir, "keys", "upload-secret")); err != nil {
			return nil, err
		}
	}
	dcfg := &configuration.Configuration{Storage: storage}
	dcfg.Version = configuration.MajorMinorVersion(0, 1)
	dcfg.HTTP.Secret = secret
	dcfg.HTTP.RelativeURLs = true
	dcfg.Middleware = map[string][]configuration.Middleware{
		"registry": {{Name: middlewareName, Options: configuration.Parameters{"registry": r}}},
	}
	for _, m := range cfg.Middleware {
		dcfg.Middleware["storage"] = append(dcfg.Middleware["storage"],
			configuration.Middleware{Name: m.Name, Options: configuration.Parameters(m.Options)})
	}
	return dcfg, nil
}

// newApp turns Distribution's panics on bad configuration into errors.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("registry configuration: %v", p)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// loadOrCreateSecret returns the secret Distribution signs upload state with. Every replica must
// share it, so it lives in the data directory.
func loadOrCreateSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read upload secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate upload secret: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadOrCreateSecret(path)
	}
	if err != nil {
		return "", fmt.Errorf("write upload secret: %w", err)
	}
	defer f.Close()
	secret := hex.EncodeToString(raw)
	if _, err := f.WriteString(secret); err != nil {
		return "", fmt.Errorf("write upload secret: %w", err)
	}
	return secret, nil
}

// Driver is the storage driver under the registry, for garbage collection and upload purging.
func (r *Registry) Driver() storagedriver.StorageDriver { return r.driver }

// Guard is the blob guard that keeps garbage collection safe while pushes go on.
func (r *Registry) Guard() *BlobGuard { return r.guard }

// Close writes the pull statistics still queued and stops Distribution's background work (the
// upload purger). Call it after the HTTP server has stopped taking requests.
func (r *Registry) Close() error {
	r.pulls.close()
	return r.app.Shutdown()
}

func (r *Registry) repository(ctx context.Context, name string) (distribution.Repository, error) {
	named, err := reference.WithName(name)
	if err != nil {
		return nil, fmt.Errorf("repository name %q: %w", name, err)
	}
	return r.ns.Repository(ctx, named)
}

// Manifest returns the bytes of manifest dgst in repo as storage holds them, for display.
func (r *Registry) Manifest(ctx context.Context, repo string, dgst digest.Digest) ([]byte, error) {
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	ms, err := rep.Manifests(ctx)
	if err != nil {
		return nil, fmt.Errorf("manifest %s@%s: %w", repo, dgst, err)
	}
	m, err := ms.Get(ctx, dgst)
	if err != nil {
		return nil, fmt.Errorf("manifest %s@%s: %w", repo, dgst, err)
	}
	_, payload, err := m.Payload()
	if err != nil {
		return nil, fmt.Errorf("manifest %s@%s: %w", repo, dgst, err)
	}
	return payload, nil
}

// Tag points tag at the manifest dgst in repo, in storage and in the index.
func (r *Registry) Tag(ctx context.Context, repo, tag string, dgst digest.Digest) error {
	if !reference.TagRegexp.MatchString(tag) || len(tag) > 128 {
		return fmt.Errorf("invalid tag %q: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", tag)
	}
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return err
	}
	// Manifests live in the repository's manifest store, not its layer links: ask that one.
	ms, err := rep.Manifests(ctx)
	if err != nil {
		return err
	}
	exists, err := ms.Exists(ctx, dgst)
	if err != nil {
		return fmt.Errorf("manifest %s@%s: %w", repo, dgst, err)
	}
	if !exists {
		return fmt.Errorf("no manifest %s in %s", dgst, repo)
	}
	return rep.Tags(ctx).Tag(ctx, tag, v1.Descriptor{Digest: dgst})
}

// Untag removes tag from repo.
func (r *Registry) Untag(ctx context.Context, repo, tag string) error {
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return err
	}
	err = rep.Tags(ctx).Untag(ctx, tag)
	var unknown distribution.ErrTagUnknown
	if errors.As(err, &unknown) {
		// Storage has no such tag: make sure the index agrees, then report success.
		return r.indexer.Untagged(ctx, repo, tag)
	}
	return err
}

// DeleteArtifact deletes a manifest and every tag that points at it, as DELETE
// /v2/<repo>/manifests/<digest> does.
func (r *Registry) DeleteArtifact(ctx context.Context, repo string, dgst digest.Digest) error {
	// Accessories (signatures, attestations, SBOMs, referrers) go with their subject, first: a
	// crash half-way leaves the subject, whose delete can be asked again.
	if err := r.deleteAccessories(ctx, repo, dgst, 0); err != nil {
		return err
	}
	return r.deleteOne(ctx, repo, dgst)
}

// maxAccessoryDepth bounds the chain of accessories of accessories deleted with a subject (a
// signature of an SBOM of an image is depth 2).
const maxAccessoryDepth = 4

// deleteAccessories deletes the accessories of repo@dgst, and theirs, through the index.
func (r *Registry) deleteAccessories(ctx context.Context, repo string, dgst digest.Digest, depth int) error {
	if depth >= maxAccessoryDepth {
		return nil
	}
	digests, err := r.db.Artifact.Query().
		Where(artifact.HasRepositoryWith(repository.Name(repo)),
			artifact.HasAccessoryLinksWith(accessory.SubjectDigest(dgst.String()))).
		Select(artifact.FieldDigest).Strings(ctx)
	if err != nil {
		return fmt.Errorf("find accessories of %s@%s: %w", repo, dgst, err)
	}
	for _, d := range digests {
		if d == dgst.String() {
			continue
		}
		if err := r.deleteAccessories(ctx, repo, digest.Digest(d), depth+1); err != nil {
			return err
		}
		if err := r.deleteOne(ctx, repo, digest.Digest(d)); err != nil {
			return err
		}
	}
	return nil
}

// deleteOne deletes one manifest and the tags that point at it.
func (r *Registry) deleteOne(ctx context.Context, repo string, dgst digest.Digest) error {
	rep, err := r.repository(ctx, repo)
	if err != nil {
		return err
	}
	tags := rep.Tags(ctx)
	referencing, err := tags.Lookup(ctx, v1.Descriptor{Digest: dgst})
	if err != nil {
		return fmt.Errorf("find tags of %s@%s: %w", repo, dgst, err)
	}
	ms, err := rep.Manifests(ctx)
	if err != nil {
		return err
	}
	if err := ms.Delete(ctx, dgst); err != nil && !errors.Is(err, distribution.ErrBlobUnknown) {
		return fmt.Errorf("delete %s@%s: %w", repo, dgst, err)
	}
	for _, t := range referencing {
		if err := tags.Untag(ctx, t); err != nil {
			return fmt.Errorf("untag %s:%s: %w", repo, t, err)
		}
	}
	return nil
}

// DeleteRepository deletes every artifact of repo and then the repository itself.
func (r *Registry) DeleteRepository(ctx context.Context, repo *ent.Repository) error {
	// All or nothing: a repository holding an immutable tag is not emptied part way.
	if err := r.indexer.checkRepositoryDelete(ctx, repo.Name); err != nil {
		return err
	}
	digests, err := repo.QueryArtifacts().Select("digest").Strings(ctx)
	if err != nil {
		return fmt.Errorf("list artifacts of %s: %w", repo.Name, err)
	}
	for _, d := range digests {
		if err := r.DeleteArtifact(ctx, repo.Name, digest.Digest(d)); err != nil {
			return err
		}
	}
	named, err := reference.WithName(repo.Name)
	if err != nil {
		return err
	}
	if remover, ok := r.ns.(distribution.RepositoryRemover); ok {
		if err := remover.Remove(ctx, named); err != nil && !isPathNotFound(err) {
			return fmt.Errorf("remove %s from storage: %w", repo.Name, err)
		}
	}
	// The last artifact's delete has dropped the row already (Indexer.dropIfEmpty); this drops one
	// that had no artifact, under the same rule and lock.
	return r.indexer.withTx(ctx, func(tx *ent.Tx, _ *cache.Keys) error {
		if _, err := tx.Project.Query().Where(project.Name(projectOf(repo.Name))).ForUpdate().Only(ctx); err != nil && !ent.IsNotFound(err) {
			return fmt.Errorf("project of %s: %w", repo.Name, err)
		}
		return r.indexer.dropIfEmpty(ctx, tx, repo.Name)
	})
}

func isPathNotFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	return errors.As(err, &nf)
}
