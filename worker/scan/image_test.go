package scan

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/worker/scan/layer"
)

// images is a Content holding images in memory: manifests and layer blobs by digest.
type images map[digest.Digest][]byte

func (c images) Manifest(_ context.Context, _ string, dgst digest.Digest) (string, []byte, error) {
	b, ok := c[dgst]
	if !ok {
		return "", nil, errors.New("manifest unknown")
	}
	return "application/vnd.oci.image.manifest.v1+json", b, nil
}

func (c images) Open(_ context.Context, _ string, dgst digest.Digest) (io.ReadCloser, error) {
	b, ok := c[dgst]
	if !ok {
		return nil, errors.New("blob unknown")
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// add stores an image of layers and returns its manifest digest.
func (c images) add(layers ...[]byte) digest.Digest {
	var m manifest
	for _, l := range layers {
		d := digest.FromBytes(l)
		c[d] = l
		m.Layers = append(m.Layers, struct {
			MediaType string        `json:"mediaType"`
			Digest    digest.Digest `json:"digest"`
		}{"application/vnd.oci.image.layer.v1.tar", d})
	}
	b, _ := json.Marshal(m)
	d := digest.FromBytes(b)
	c[d] = b
	return d
}

// tarLayer builds a tar layer of headers; a regular file's content is its Linkname field's
// "content:" value, so one slice of headers describes the whole layer.
func tarLayer(t testing.TB, headers ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range headers {
		var content []byte
		if c, ok := strings.CutPrefix(h.Linkname, "content:"); ok {
			content, h.Linkname = []byte(c), ""
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(content))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.ModTime = time.Unix(0, 0)
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, content string) tar.Header {
	return tar.Header{Name: name, Linkname: "content:" + content}
}

func symlink(name, target string) tar.Header {
	return tar.Header{Name: name, Linkname: target, Typeflag: tar.TypeSymlink}
}

const osRelease = "ID=debian\nVERSION_ID=\"12\"\n"

const status = `Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
`

// snapshot lists every path under dir with its content (or "dir", or the link target).
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" = "+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// Layers that aim symlinks, whiteouts, hard links, devices, "..", absolute names and repeated
// names at a directory outside the scanner's folder leave it as it was, and the scanner's
// folder empty.
func TestHostileLayersStayInside(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	for name, content := range map[string]string{"sentinel": "keep", "dev": "keep", "sub/file": "keep", "status.d/x": "keep"} {
		if err := os.MkdirAll(filepath.Join(outside, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(outside, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, outside)
	abs := strings.TrimPrefix(filepath.ToSlash(outside), "/")
	up := strings.Repeat("../", 40)

	// The chain: a (a wanted name) points at the root; under it, b points (relative, with more
	// ".." than the path is deep) at the outside directory; then writes, whiteouts, an opaque
	// whiteout and a device go through a/…/b.
	const d = "var/lib/dpkg/status.d/"
	through := d + "a/" + d + "b/"
	hostile := tarLayer(t,
		symlink(d+"a", "/"),
		symlink(d+"a/"+d+"b", up+abs),
		file(through+"written", status),
		tar.Header{Name: through + ".wh.sentinel"},
		tar.Header{Name: through + "sub/.wh..wh..opq"},
		tar.Header{Name: through + "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		tar.Header{Name: through + "fifo", Typeflag: tar.TypeFifo},
		// Absolute names and ".." chains.
		file("/"+abs+"/abs-written", "x"),
		file(up+abs+"/rel-written", "x"),
		file("/"+abs+"/var/lib/dpkg/status", status),
		file(up+abs+"/var/lib/dpkg/status.d/y", status),
		symlink(d+"c", "/"+abs),
		file(d+"c/c-written", status),
		// A hard link to a file outside, and one through the chain.
		tar.Header{Name: d + "h", Typeflag: tar.TypeLink, Linkname: "/" + abs + "/sentinel"},
		tar.Header{Name: d + "h2", Typeflag: tar.TypeLink, Linkname: through + "sentinel"},
		tar.Header{Name: through + "h3", Typeflag: tar.TypeLink, Linkname: d + "written"},
	)
	// A second layer repeats the names, whites them out and writes through them again.
	again := tarLayer(t,
		symlink(d+"a", "/"+abs),
		file(d+"a/again", status),
		tar.Header{Name: d + "a/.wh.status.d"},
		tar.Header{Name: d + "a/.wh..wh..opq"},
		tar.Header{Name: through + ".wh.sub"},
		file(through+"written", status),
		tar.Header{Name: "/" + abs + "/.wh.sentinel"},
		tar.Header{Name: up + abs + "/.wh..wh..opq"},
	)
	c := images{}
	img := c.add(hostile, again)
	dir := filepath.Join(t.TempDir(), "scanner")
	_, _, err := packages(context.Background(), c, "library/evil", img, Unpack{Dir: dir}, nil)
	if err != nil {
		t.Logf("scan ended with: %v", err)
	}
	if after := snapshot(t, outside); !slices.Equal(before, after) {
		t.Fatalf("the layers changed a directory outside the scanner's folder:\nbefore %q\nafter  %q", before, after)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		t.Errorf("the scanner's folder holds %d entries after the scan: %v", len(entries), entries)
	}
}

// A legitimate image still scans: os-release through a symlink to ../usr/lib/os-release, the
// dpkg status, a whiteout and an opaque directory of a later layer, names repeated across layers.
func TestLegitimateImageScans(t *testing.T) {
	t.Parallel()
	l1 := tarLayer(t,
		tar.Header{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755},
		file("usr/lib/os-release", osRelease),
		symlink("etc/os-release", "../usr/lib/os-release"),
		file("var/lib/dpkg/status", "Package: gone\nStatus: install ok installed\nVersion: 1\n"),
		file("lib/apk/db/installed", "P:busybox\nV:1.36.1-r15\n"),
		file("var/lib/dpkg/status.d/old", "Package: hidden\nStatus: install ok installed\nVersion: 1\n"),
	)
	l2 := tarLayer(t,
		file("var/lib/dpkg/status", status), // replaces the first layer's
		tar.Header{Name: "lib/apk/db/.wh.installed"},
		file("var/lib/dpkg/status.d/new", "Package: kept\nStatus: install ok installed\nVersion: 2\n"),
		tar.Header{Name: "var/lib/dpkg/status.d/.wh..wh..opq"}, // hides old, not new (same layer)
		tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
	)
	c := images{}
	img := c.add(l1, l2)
	dir := filepath.Join(t.TempDir(), "scanner")
	pkgs, osName, err := packages(context.Background(), c, "library/deb", img, Unpack{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name+" "+p.Version+" "+strings.Join(p.Ecosystems, ","))
	}
	sort.Strings(got)
	want := []string{"kept 2 Debian:12,Debian", "openssl 3.0.11-1~deb12u1 Debian:12,Debian", "zlib1g 1:1.2.13.dfsg-1 Debian:12,Debian"}
	if osName != "debian 12" || !slices.Equal(got, want) {
		t.Fatalf("packages %q on %q, want %q on debian 12", got, osName, want)
	}
}

// gzipBomb is a gzip'd tar layer holding one file of size zeros: about a thousandth of size
// compressed. A tar file of zeros is a header and then zeros only, so the layer is built from gzip
// members (which a gzip reader reads as one stream) of one MiB of zeros each.
func gzipBomb(t testing.TB, size int64) []byte {
	t.Helper()
	member := func(b []byte) []byte {
		var buf bytes.Buffer
		gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = gz.Write(b)
		_ = gz.Close()
		return buf.Bytes()
	}
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	out := member(hdr.Bytes())
	zeros := member(make([]byte, mib))
	for range size / mib {
		out = append(out, zeros...)
	}
	return append(out, member(make([]byte, size%mib+1024))...) // the rest, padding and the end-of-archive blocks
}

// A small layer that expands far past the limit stops the scan with an error that says so,
// having written nothing.
func TestGzipBombStopsAtTheLimit(t *testing.T) {
	t.Parallel()
	bomb := gzipBomb(t, 1<<30) // 1 GiB of zeros
	if len(bomb) > 2<<20 {
		t.Fatalf("the bomb is %d bytes compressed; want a small one", len(bomb))
	}
	c := images{}
	img := c.add(bomb)
	dir := filepath.Join(t.TempDir(), "scanner")
	limits := layer.Limits{MaxBytes: 64 << 20}
	_, _, err := packages(context.Background(), c, "library/bomb", img, Unpack{Dir: dir, Limits: limits}, nil)
	var le *layer.LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "BERTH_SCAN_MAX_BYTES") || !strings.Contains(err.Error(), "64 MiB") {
		t.Fatalf("scan of a gzip bomb: %v; want a limit error naming 64 MiB and BERTH_SCAN_MAX_BYTES", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("the scanner's folder holds %v", entries)
	}
}

// Entries are counted over all layers.
func TestTooManyEntriesStops(t *testing.T) {
	t.Parallel()
	var headers []tar.Header
	for range 60 {
		headers = append(headers, file("usr/share/doc/x", "x"))
	}
	c := images{}
	img := c.add(tarLayer(t, headers...), tarLayer(t, headers...))
	_, _, err := packages(context.Background(), c, "library/many", img, Unpack{Limits: layer.Limits{MaxEntries: 100}}, nil)
	if err == nil || !strings.Contains(err.Error(), "BERTH_SCAN_MAX_FILES") {
		t.Fatalf("scan of 120 entries with a limit of 100: %v", err)
	}
}

// Scan folders older than a scan can run are removed; younger ones and other files stay.
func TestCleanScratch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"scan-old", "scan-new", "other"} {
		if err := os.MkdirAll(filepath.Join(dir, name, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "scan-old"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := CleanScratch(dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"other", "scan-new"}) {
		t.Fatalf("after cleaning: %v", names)
	}
}
