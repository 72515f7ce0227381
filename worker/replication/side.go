package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/endpoint"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/accessory"
	"github.com/berth-registry/berth/ent/artifact"
	"github.com/berth-registry/berth/ent/repository"
)

// side is one end of a copy: this registry or a remote one, spoken to in the same terms.
type side interface {
	// resolve returns the digest ref (a tag or a digest) names in repo, or found false.
	resolve(ctx context.Context, repo, ref string) (d digest.Digest, found bool, err error)
	manifest(ctx context.Context, repo string, d digest.Digest) (mediaType string, body []byte, err error)
	openBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error)
	// putBlob stores blob d unless repo has it already; open is called only if its bytes must be
	// sent; mountFrom, if not empty, is a repository on this side that has it (a cross-repository
	// mount). sent is how many bytes went over the wire.
	putBlob(ctx context.Context, repo string, d digest.Digest, size int64, mediaType string, open func() (io.ReadCloser, error), mountFrom string) (sent int64, err error)
	putManifest(ctx context.Context, repo, ref, mediaType string, body []byte) error
	deleteManifest(ctx context.Context, repo string, d digest.Digest) error
	// deleteTag removes tag from repo, leaving what it named; a tag already gone is no error.
	deleteTag(ctx context.Context, repo, tag string) error
	tags(ctx context.Context, repo string) ([]string, error)
	// accessories are the artifacts whose subject is d in repo (signatures, SBOMs), with the tags
	// that name them (cosign's sha256-<hex>.sig scheme).
	accessories(ctx context.Context, repo string, d digest.Digest) ([]accessoryRef, error)
}

type accessoryRef struct {
	Digest digest.Digest
	Tags   []string
}

// cosignSuffixes are the tag suffixes of cosign's tag scheme: signature, attestation, SBOM.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// cosignTag is the tag cosign gives an accessory of d.
func cosignTag(d digest.Digest, suffix string) string {
	return d.Algorithm().String() + "-" + d.Encoded() + suffix
}

// LocalStore is this registry's content, written through the indexing namespace.
type LocalStore interface {
	Repository(ctx context.Context, repo string) (distribution.Repository, error)
	DeleteArtifact(ctx context.Context, repo string, dgst digest.Digest) error
}

// local is this registry as a side.
type local struct {
	store LocalStore
	db    *ent.Client
}

func (l *local) repo(ctx context.Context, repo string) (distribution.Repository, error) {
	return l.store.Repository(ctx, repo)
}

func (l *local) resolve(ctx context.Context, repo, ref string) (digest.Digest, bool, error) {
	r, err := l.repo(ctx, repo)
	if err != nil {
		return "", false, err
	}
	if d, err := digest.Parse(ref); err == nil {
		ms, err := r.Manifests(ctx)
		if err != nil {
			return "", false, err
		}
		ok, err := ms.Exists(ctx, d)
		return d, ok, err
	}
	desc, err := r.Tags(ctx).Get(ctx, ref)
	var unknown distribution.ErrTagUnknown
	if errors.As(err, &unknown) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return desc.Digest, true, nil
}

func (l *local) manifest(ctx context.Context, repo string, d digest.Digest) (string, []byte, error) {
	r, err := l.repo(ctx, repo)
	if err != nil {
		return "", nil, err
	}
	ms, err := r.Manifests(ctx)
	if err != nil {
		return "", nil, err
	}
	m, err := ms.Get(ctx, d)
	if err != nil {
		return "", nil, fmt.Errorf("manifest %s@%s: %w", repo, d, err)
	}
	return m.Payload()
}

func (l *local) openBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error) {
	r, err := l.repo(ctx, repo)
	if err != nil {
		return nil, err
	}
	rc, err := r.Blobs(ctx).Open(ctx, d)
	if errors.Is(err, distribution.ErrBlobUnknown) {
		// A layer of a proxy-cache artifact no client has pulled yet: fetched from upstream first.
		if pt, ok := l.store.(interface {
			PullBlobThrough(ctx context.Context, repo string, dgst digest.Digest) error
		}); ok {
			if ferr := pt.PullBlobThrough(ctx, repo, d); ferr != nil {
				return nil, ferr
			}
			rc, err = r.Blobs(ctx).Open(ctx, d)
		}
	}
	if err != nil {
		return nil, err
	}
	return quietCloser{rc}, nil
}

// quietCloser drops the error of Close: Distribution's file reader reports "closed" from every
// Close, which an HTTP client sending it as a body would take for a failed upload.
type quietCloser struct{ io.ReadCloser }

func (q quietCloser) Close() error {
	_ = q.ReadCloser.Close()
	return nil
}

func (l *local) putBlob(ctx context.Context, repo string, d digest.Digest, size int64, _ string, open func() (io.ReadCloser, error), mountFrom string) (int64, error) {
	r, err := l.repo(ctx, repo)
	if err != nil {
		return 0, err
	}
	blobs := r.Blobs(ctx)
	if _, err := blobs.Stat(ctx, d); err == nil {
		return 0, nil
	} else if !errors.Is(err, distribution.ErrBlobUnknown) {
		return 0, fmt.Errorf("stat blob %s in %s: %w", d, repo, err)
	}
	var opts []distribution.BlobCreateOption
	if mountFrom != "" {
		if named, err := reference.WithName(mountFrom); err == nil {
			if canonical, err := reference.WithDigest(named, d); err == nil {
				opts = append(opts, storage.WithMountFrom(canonical))
			}
		}
	}
	w, err := blobs.Create(ctx, opts...)
	var mounted distribution.ErrBlobMounted
	if errors.As(err, &mounted) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("upload blob %s to %s: %w", d, repo, err)
	}
	rc, err := open()
	if err != nil {
		_ = w.Cancel(ctx)
		return 0, err
	}
	defer rc.Close()
	n, err := io.Copy(w, rc)
	if err != nil {
		_ = w.Cancel(ctx)
		return n, fmt.Errorf("upload blob %s to %s: %w", d, repo, err)
	}
	// Commit checks the digest of what was written: what lands equals what left.
	if _, err := w.Commit(ctx, ocispec.Descriptor{Digest: d, Size: size}); err != nil {
		return n, fmt.Errorf("commit blob %s to %s: %w", d, repo, err)
	}
	return n, nil
}

func (l *local) putManifest(ctx context.Context, repo, ref, mediaType string, body []byte) error {
	r, err := l.repo(ctx, repo)
	if err != nil {
		return err
	}
	ms, err := r.Manifests(ctx)
	if err != nil {
		return err
	}
	m, _, err := distribution.UnmarshalManifest(mediaType, body)
	if err != nil {
		return fmt.Errorf("manifest for %s:%s: %w", repo, ref, err)
	}
	var opts []distribution.ManifestServiceOption
	if _, err := digest.Parse(ref); err != nil {
		opts = append(opts, distribution.WithTag(ref))
	}
	if _, err := ms.Put(ctx, m, opts...); err != nil {
		return fmt.Errorf("put manifest %s:%s: %w", repo, ref, err)
	}
	return nil
}

func (l *local) deleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	return l.store.DeleteArtifact(ctx, repo, d)
}

func (l *local) deleteTag(ctx context.Context, repo, tag string) error {
	r, err := l.repo(ctx, repo)
	if err != nil {
		return err
	}
	err = r.Tags(ctx).Untag(ctx, tag)
	var unknown distribution.ErrTagUnknown
	if errors.As(err, &unknown) {
		return nil
	}
	return err
}

func (l *local) tags(ctx context.Context, repo string) ([]string, error) {
	r, err := l.repo(ctx, repo)
	if err != nil {
		return nil, err
	}
	tags, err := r.Tags(ctx).All(ctx)
	var unknown distribution.ErrRepositoryUnknown
	if errors.As(err, &unknown) {
		return nil, nil
	}
	return tags, err
}

// accessories come from the index, which links signatures and referrers to their subject.
func (l *local) accessories(ctx context.Context, repo string, d digest.Digest) ([]accessoryRef, error) {
	rows, err := l.db.Artifact.Query().Where(
		artifact.HasAccessoryLinksWith(accessory.SubjectDigest(d.String())),
		artifact.HasRepositoryWith(repository.Name(repo))).WithTags().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("accessories of %s@%s: %w", repo, d, err)
	}
	out := make([]accessoryRef, 0, len(rows))
	for _, a := range rows {
		ref := accessoryRef{Digest: digest.Digest(a.Digest)}
		for _, t := range a.Edges.Tags {
			ref.Tags = append(ref.Tags, t.Name)
		}
		out = append(out, ref)
	}
	return out, nil
}

// far is a remote registry as a side, through go-containerregistry.
type far struct {
	r     *endpoint.Remote
	chunk bool // copy_by_chunk: blobs larger than ChunkSize go in chunks
}

func (f *far) ref(repo, ref string) (name.Reference, error) {
	rp, err := f.r.Repository(repo)
	if err != nil {
		return nil, err
	}
	if _, err := digest.Parse(ref); err == nil {
		return rp.Digest(ref), nil
	}
	return rp.Tag(ref), nil
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && (te.StatusCode == http.StatusNotFound)
}

func (f *far) resolve(ctx context.Context, repo, ref string) (digest.Digest, bool, error) {
	r, err := f.ref(repo, ref)
	if err != nil {
		return "", false, err
	}
	desc, err := remote.Head(r, f.r.Options(ctx)...)
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return digest.Digest(desc.Digest.String()), true, nil
}

func (f *far) manifest(ctx context.Context, repo string, d digest.Digest) (string, []byte, error) {
	r, err := f.ref(repo, d.String())
	if err != nil {
		return "", nil, err
	}
	desc, err := remote.Get(r, f.r.Options(ctx)...)
	if err != nil {
		return "", nil, err
	}
	return string(desc.MediaType), desc.Manifest, nil
}

func (f *far) openBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadCloser, error) {
	rp, err := f.r.Repository(repo)
	if err != nil {
		return nil, err
	}
	l, err := remote.Layer(rp.Digest(d.String()), f.r.Options(ctx)...)
	if err != nil {
		return nil, err
	}
	return l.Compressed() // verifies the digest as it is read
}

func (f *far) putBlob(ctx context.Context, repo string, d digest.Digest, size int64, mediaType string, open func() (io.ReadCloser, error), mountFrom string) (int64, error) {
	if f.chunk && size > ChunkSize {
		return f.putBlobChunked(ctx, repo, d, size, open, mountFrom)
	}
	rp, err := f.r.Repository(repo)
	if err != nil {
		return 0, err
	}
	h, err := v1.NewHash(d.String())
	if err != nil {
		return 0, err
	}
	bl := &blobLayer{hash: h, size: size, mediaType: types.MediaType(mediaType), open: open}
	var layer v1.Layer = bl
	if mountFrom != "" && mountFrom != repo {
		from, err := f.r.Repository(mountFrom)
		if err == nil {
			layer = &remote.MountableLayer{Layer: bl, Reference: from.Digest(d.String())}
		}
	}
	// WriteLayer asks HEAD first (a blob already there is not sent), then tries the mount.
	if err := remote.WriteLayer(rp, layer, f.r.Options(ctx)...); err != nil {
		return bl.sent, err
	}
	return bl.sent, nil
}

func (f *far) putManifest(ctx context.Context, repo, ref, mediaType string, body []byte) error {
	r, err := f.ref(repo, ref)
	if err != nil {
		return err
	}
	return remote.Put(r, rawManifest{mediaType: types.MediaType(mediaType), body: body}, f.r.Options(ctx)...)
}

func (f *far) deleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	r, err := f.ref(repo, d.String())
	if err != nil {
		return err
	}
	err = remote.Delete(r, f.r.Options(ctx)...)
	if isNotFound(err) {
		return nil
	}
	return err
}

func (f *far) deleteTag(ctx context.Context, repo, tag string) error {
	r, err := f.ref(repo, tag)
	if err != nil {
		return err
	}
	err = remote.Delete(r, f.r.Options(ctx)...)
	if isNotFound(err) {
		return nil
	}
	return err
}

func (f *far) tags(ctx context.Context, repo string) ([]string, error) {
	rp, err := f.r.Repository(repo)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(rp, f.r.Options(ctx)...)
	if isNotFound(err) {
		return nil, nil
	}
	return tags, err
}

// accessories: the referrers API (go-containerregistry falls back to the referrers tag schema
// where the registry lacks it), plus cosign's tags.
func (f *far) accessories(ctx context.Context, repo string, d digest.Digest) ([]accessoryRef, error) {
	rp, err := f.r.Repository(repo)
	if err != nil {
		return nil, err
	}
	var out []accessoryRef
	seen := map[digest.Digest]bool{}
	idx, err := remote.Referrers(rp.Digest(d.String()), f.r.Options(ctx)...)
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("referrers of %s@%s: %w", repo, d, err)
	}
	if idx != nil {
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, m := range im.Manifests {
			ad := digest.Digest(m.Digest.String())
			if !seen[ad] {
				seen[ad] = true
				out = append(out, accessoryRef{Digest: ad})
			}
		}
	}
	for _, suffix := range cosignSuffixes {
		tag := cosignTag(d, suffix)
		ad, found, err := f.resolve(ctx, repo, tag)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, accessoryRef{Digest: ad, Tags: []string{tag}})
		}
	}
	return out, nil
}

// blobLayer is a blob as go-containerregistry's writer wants it: known digest and size, bytes
// opened only if they must be sent, counted as they go.
type blobLayer struct {
	hash      v1.Hash
	size      int64
	mediaType types.MediaType
	open      func() (io.ReadCloser, error)
	sent      int64
}

func (b *blobLayer) Digest() (v1.Hash, error)             { return b.hash, nil }
func (b *blobLayer) DiffID() (v1.Hash, error)             { return b.hash, nil }
func (b *blobLayer) Size() (int64, error)                 { return b.size, nil }
func (b *blobLayer) MediaType() (types.MediaType, error)  { return b.mediaType, nil }
func (b *blobLayer) Uncompressed() (io.ReadCloser, error) { return b.Compressed() }
func (b *blobLayer) Compressed() (io.ReadCloser, error) {
	rc, err := b.open()
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: rc, n: &b.sent}, nil
}

type countingReader struct {
	io.ReadCloser
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	*c.n += int64(n)
	return n, err
}

// rawManifest puts manifest bytes as they are.
type rawManifest struct {
	mediaType types.MediaType
	body      []byte
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// manifestRefs lists what a manifest refers to: child manifests (an index) and blobs (config and
// layers of an image, or an artifact's).
func manifestRefs(mediaType string, body []byte) (children, blobs []ocispec.Descriptor, err error) {
	var m struct {
		MediaType string               `json:"mediaType"`
		Manifests []ocispec.Descriptor `json:"manifests"`
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Blobs     []ocispec.Descriptor `json:"blobs"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, nil, fmt.Errorf("parse manifest (%s): %w", mediaType, err)
	}
	if m.Config != nil && m.Config.Digest != "" {
		blobs = append(blobs, *m.Config)
	}
	for _, l := range append(m.Layers, m.Blobs...) {
		if len(l.URLs) > 0 || strings.Contains(l.MediaType, "foreign") {
			continue // non-distributable: the registry never held it
		}
		blobs = append(blobs, l)
	}
	return m.Manifests, blobs, nil
}

// isImage tells an image (or an index of images) from other artifacts, for the resource filter.
func isImage(mediaType string, body []byte) bool {
	switch mediaType {
	case ocispec.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json":
		return true
	}
	var m struct {
		ArtifactType string              `json:"artifactType"`
		Config       *ocispec.Descriptor `json:"config"`
	}
	if json.Unmarshal(body, &m) != nil || m.ArtifactType != "" || m.Config == nil {
		return false
	}
	return m.Config.MediaType == ocispec.MediaTypeImageConfig || m.Config.MediaType == "application/vnd.docker.container.image.v1+json"
}

// catalog lists the remote's repositories.
func (f *far) catalog(ctx context.Context) ([]string, error) {
	return remote.Catalog(ctx, f.r.Registry, f.r.Options(ctx)...)
}
