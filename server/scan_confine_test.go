package server_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// writeLayer writes headers as a tar layer file; a regular file's content is its Linkname's
// "content:" value.
func writeLayer(t *testing.T, headers ...tar.Header) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range headers {
		var content []byte
		if c, ok := strings.CutPrefix(h.Linkname, "content:"); ok {
			content, h.Linkname, h.Typeflag, h.Size = []byte(c), "", tar.TypeReg, int64(len(c))
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		h.Mode, h.Format = 0o644, tar.FormatPAX
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
	p := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tree lists every path under dir with its content, for before/after comparisons.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, _ := os.ReadFile(p)
		out = append(out, rel+" "+d.Type().String()+" "+string(b))
		return nil
	})
	sort.Strings(out)
	return out
}

// An image pushed with crane whose layer aims a symlink chain, whiteouts, a hard link and a
// device at a directory outside the scanner's folder is scanned through GraphQL: the directory
// is left as it was, the scan ends, and the scanner's folder holds nothing. A gzip bomb ends
// the scan with an error on the report that names the limit.
func TestScanConfinesHostileImages(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t, func(c *server.Config) {
		c.AdvisoryDir = osvFixtures
		c.ScanMaxBytes = 32 << 20
	})
	crane := setupCrane(t, env, "admin", servertest.AdminPassword)

	outside := t.TempDir()
	for _, name := range []string{"sentinel", "dev", "sub/file"} {
		_ = os.MkdirAll(filepath.Join(outside, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(outside, name), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := tree(t, outside)
	abs := strings.TrimPrefix(filepath.ToSlash(outside), "/")
	up := strings.Repeat("../", 40)
	const d = "var/lib/dpkg/status.d/"
	through := d + "a/" + d + "b/"
	evil := writeLayer(t,
		tar.Header{Name: "etc/os-release", Linkname: "content:ID=debian\nVERSION_ID=12\n"},
		tar.Header{Name: d + "a", Linkname: "/", Typeflag: tar.TypeSymlink},
		tar.Header{Name: d + "a/" + d + "b", Linkname: up + abs, Typeflag: tar.TypeSymlink},
		tar.Header{Name: through + "written", Linkname: "content:" + dpkgStatus},
		tar.Header{Name: through + ".wh.sentinel"},
		tar.Header{Name: through + "sub/.wh..wh..opq"},
		tar.Header{Name: through + "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		tar.Header{Name: "/" + abs + "/abs-written", Linkname: "content:x"},
		tar.Header{Name: up + abs + "/rel-written", Linkname: "content:x"},
		tar.Header{Name: d + "h", Typeflag: tar.TypeLink, Linkname: "/" + abs + "/sentinel"},
	)
	again := writeLayer(t,
		tar.Header{Name: d + "a", Linkname: "/" + abs, Typeflag: tar.TypeSymlink},
		tar.Header{Name: d + "a/.wh.sub"},
		tar.Header{Name: d + "a/written", Linkname: "content:" + dpkgStatus},
	)
	if out, err := crane("append", "-f", evil, "-f", again, "-t", env.Host+"/library/evil:1"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	evilID := artifactIDOf(t, env, crane, env.Host+"/library/evil:1")
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": evilID}, nil)
	o := waitScan(t, env, ref{"library/evil", "1"})
	if o.Status != "SUCCESS" {
		t.Errorf("scan of the hostile image: %+v", o)
	}
	if after := tree(t, outside); !slices.Equal(before, after) {
		t.Fatalf("the scan changed a directory outside the scanner's folder:\nbefore %q\nafter  %q", before, after)
	}

	// 1 GiB of zeros in about a megabyte of gzip.
	var bomb bytes.Buffer
	member := func(b []byte) {
		gz, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
		_, _ = gz.Write(b)
		_ = gz.Close()
	}
	var hdr bytes.Buffer
	_ = tar.NewWriter(&hdr).WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: 1 << 30, Typeflag: tar.TypeReg})
	member(hdr.Bytes())
	var zeros bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&zeros, gzip.BestCompression)
	_, _ = gz.Write(make([]byte, 1<<20))
	_ = gz.Close()
	for range 1 << 10 {
		bomb.Write(zeros.Bytes())
	}
	member(make([]byte, 1024))
	bombPath := filepath.Join(t.TempDir(), "bomb.tar.gz")
	if err := os.WriteFile(bombPath, bomb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := crane("append", "-f", bombPath, "-t", env.Host+"/library/bomb:1"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	bombID := artifactIDOf(t, env, crane, env.Host+"/library/bomb:1")
	env.MustGraphQL("admin", servertest.AdminPassword, `mutation($id: ID!) { scanArtifact(id: $id) { id } }`, map[string]any{"id": bombID}, nil)
	o = waitScan(t, env, ref{"library/bomb", "1"})
	if o.Status != "ERROR" || len(o.Reports) != 1 || !strings.Contains(o.Reports[0].Log, "32 MiB") ||
		!strings.Contains(o.Reports[0].Log, "BERTH_SCAN_MAX_BYTES") {
		t.Fatalf("scan of a gzip bomb: %+v; want ERROR with a log naming the 32 MiB limit and its setting", o)
	}

	if entries, err := os.ReadDir(filepath.Join(env.DataDir, "scanner")); err == nil && len(entries) > 0 {
		t.Errorf("the scanner's folder holds %v after the scans", entries)
	}
}
