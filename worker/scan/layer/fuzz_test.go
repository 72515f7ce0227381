package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// specLayer builds a tar layer from a line-based description, so the fuzzer explores entry
// kinds and names rather than tar's checksums. Each line is "kind name [target]": kind f (file,
// target is its content), d (directory), l (symlink), h (hard link), c (character device),
// p (FIFO). "$OUT" in a name or target stands for the directory outside the scanner.
func specLayer(spec, outside string) []byte {
	var headers []tar.Header
	for _, line := range strings.Split(spec, "\n") {
		line = strings.ReplaceAll(line, "$OUT", outside)
		kind, rest, _ := strings.Cut(line, " ")
		name, target, _ := strings.Cut(rest, " ")
		if name == "" || len(name) > maxName || len(target) > maxName || strings.ContainsRune(line, 0) || !utf8.ValidString(line) {
			continue
		}
		h := tar.Header{Name: name}
		switch kind {
		case "f":
			h.Linkname = "content:" + target
		case "d":
			h.Typeflag = tar.TypeDir
		case "l":
			h.Typeflag, h.Linkname = tar.TypeSymlink, target
		case "h":
			h.Typeflag, h.Linkname = tar.TypeLink, target
		case "c":
			h.Typeflag = tar.TypeChar
		case "p":
			h.Typeflag = tar.TypeFifo
		default:
			continue
		}
		headers = append(headers, h)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range headers {
		var content []byte
		if c, ok := strings.CutPrefix(h.Linkname, "content:"); ok {
			content, h.Linkname, h.Typeflag, h.Size = []byte(c), "", tar.TypeReg, int64(len(c))
		}
		h.Mode, h.Format = 0o644, tar.FormatPAX
		if tw.WriteHeader(&h) != nil {
			continue // a header tar cannot write: the fuzzer's raw layer covers broken ones
		}
		_, _ = tw.Write(content)
	}
	_ = tw.Close()
	return buf.Bytes()
}

// checkTree verifies the tree's invariants: every path is clean and inside the root, and the
// kept count is what the nodes hold.
func checkTree(t *testing.T, tr *Tree) {
	var sum int64
	var walk func(n *node, p string)
	walk = func(n *node, p string) {
		sum += n.size()
		for name, c := range n.children {
			if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
				t.Fatalf("the tree holds a node named %q under %q", name, p)
			}
			walk(c, p+"/"+name)
		}
	}
	walk(tr.root, "")
	if sum != tr.kept {
		t.Fatalf("kept count %d, the nodes hold %d", tr.kept, sum)
	}
	if tr.kept > maxKept || tr.kept < 0 {
		t.Fatalf("kept %d bytes; the limit is %d", tr.kept, maxKept)
	}
}

// wantedForTest keeps what the scanner keeps, near enough: package databases and os-release.
func wantedForTest(name string) bool {
	return strings.HasSuffix(name, "os-release") || strings.HasPrefix(name, "var/lib/dpkg/status") ||
		strings.HasSuffix(name, "apk/db/installed") || strings.HasPrefix(name, "var/lib/rpm/")
}

// FuzzLayer replays two fuzzed layers (one described line by line, one raw bytes) and checks
// that the tree stays confined and consistent: no path in it names anything above its root, the
// files it returns have clean paths inside the image, its kept count is what its nodes hold and
// stays under the limit, every error is a clean one, and resolving any returned path again gives
// the same content.
func FuzzLayer(f *testing.F) {
	f.Add("l var/lib/dpkg/status.d/a /\nl var/lib/dpkg/status.d/a/var/lib/dpkg/status.d/b ../../../../../../../../../../$OUT\n"+
		"f var/lib/dpkg/status.d/a/var/lib/dpkg/status.d/b/written Package: x\n"+
		"f var/lib/dpkg/status.d/a/var/lib/dpkg/status.d/b/.wh.sentinel\nf var/lib/dpkg/status.d/a/var/lib/dpkg/status.d/b/.wh..wh..opq\n"+
		"c var/lib/dpkg/status.d/a/var/lib/dpkg/status.d/b/dev\nh var/lib/dpkg/status.d/h $OUT/sentinel", []byte{})
	f.Add("f usr/lib/os-release ID=debian\nl etc/os-release ../usr/lib/os-release\nf var/lib/dpkg/status Package: openssl\n"+
		"f var/lib/dpkg/status.d/x Package: zlib\nf var/lib/dpkg/status.d/.wh..wh..opq", []byte{})
	f.Add("f /$OUT/abs x\nf ../../../../../../../$OUT/rel x\nl var a\nl a var\nf var/lib/dpkg/status x\nh lib/apk/db/installed var/lib/dpkg/status\np var/lib/rpm/Packages",
		specLayer("f lib/apk/db/installed P:busybox\nl var/lib/rpm /usr/lib/sysimage/rpm\nd usr/lib/sysimage/rpm\nf usr/lib/sysimage/rpm/Packages x", "/tmp/out"))
	f.Add("l etc /\nl etc/os-release etc\nf etc/etc/etc/os-release x\nd var/lib/dpkg/status\nf var/lib/dpkg/status/x y", []byte("\x1f\x8b\x08"))
	f.Fuzz(func(t *testing.T, spec string, raw []byte) {
		tr := New(Limits{MaxBytes: 16 << 20, MaxEntries: 10_000}, wantedForTest)
		for i, l := range [][]byte{specLayer(spec, "/tmp/outside"), raw} {
			if err := tr.Apply(context.Background(), bytes.NewReader(l)); err != nil {
				if i == 0 && !errors.As(err, new(*LimitError)) {
					t.Fatalf("a well-formed layer failed: %v", err)
				}
				if err.Error() == "" {
					t.Fatal("an error without a message")
				}
				break
			}
		}
		checkTree(t, tr)
		files := tr.Files([]string{"etc/os-release", "var/lib/dpkg/status"})
		for p, data := range files {
			if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") {
				t.Fatalf("a file at %q, outside the image's root", p)
			}
			parts, err := tr.resolve(p, true)
			if err != nil {
				t.Fatalf("returned path %q does not resolve: %v", p, err)
			}
			if n := tr.lookup(parts); n == nil || n.kind != kindFile || n.data != data {
				t.Fatalf("returned path %q resolves to something else", p)
			}
		}
	})
}
