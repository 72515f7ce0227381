package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Content reads manifests and blobs straight from storage, without the HTTP application or the
// index middleware: what background jobs (the scanner) need, in `berth serve` and `berth worker`
// alike. It never writes.
type Content struct {
	ns    distribution.Namespace
	fetch func(ctx context.Context, repo string, dgst digest.Digest) error
}

// FetchMissingWith has Open call fetch for a blob storage does not hold, then try again: the
// registry's PullBlobThrough, so that a scan of an artifact a proxy-cache project holds before
// its layers were pulled fetches them from upstream.
func (c *Content) FetchMissingWith(fetch func(ctx context.Context, repo string, dgst digest.Digest) error) {
	c.fetch = fetch
}

// NewContent reads the storage driver holds (the registry's: Registry.Driver).
func NewContent(ctx context.Context, driver storagedriver.StorageDriver) (*Content, error) {
	ns, err := storage.NewRegistry(ctx, driver)
	if err != nil {
		return nil, fmt.Errorf("registry storage %s: %w", driver.Name(), err)
	}
	return &Content{ns: ns}, nil
}

func (c *Content) repository(ctx context.Context, repo string) (distribution.Repository, error) {
	named, err := reference.WithName(repo)
	if err != nil {
		return nil, fmt.Errorf("repository name %q: %w", repo, err)
	}
	return c.ns.Repository(ctx, named)
}

// Manifest returns the media type and bytes of manifest dgst in repo.
func (c *Content) Manifest(ctx context.Context, repo string, dgst digest.Digest) (string, []byte, error) {
	rep, err := c.repository(ctx, repo)
	if err != nil {
		return "", nil, err
	}
	ms, err := rep.Manifests(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("manifest %s@%s: %w", repo, dgst, err)
	}
	m, err := ms.Get(ctx, dgst)
	if err != nil {
		return "", nil, fmt.Errorf("manifest %s@%s: %w", repo, dgst, err)
	}
	mediaType, payload, err := m.Payload()
	if err != nil {
		return "", nil, fmt.Errorf("manifest %s@%s: %w", repo, dgst, err)
	}
	return mediaType, payload, nil
}

// Open opens blob dgst of repo for reading.
func (c *Content) Open(ctx context.Context, repo string, dgst digest.Digest) (io.ReadCloser, error) {
	rep, err := c.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	rc, err := rep.Blobs(ctx).Open(ctx, dgst)
	if errors.Is(err, distribution.ErrBlobUnknown) && c.fetch != nil {
		if ferr := c.fetch(ctx, repo, dgst); ferr != nil {
			return nil, fmt.Errorf("blob %s@%s: %w", repo, dgst, ferr)
		}
		rc, err = rep.Blobs(ctx).Open(ctx, dgst)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s@%s: %w", repo, dgst, err)
	}
	return rc, nil
}
