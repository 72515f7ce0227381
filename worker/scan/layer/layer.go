// Package layer replays container image layers (tar streams, plain, gzip or zstd) into an
// in-memory tree confined to the image: it owns the rules of layer application (whiteouts, opaque
// directories, symlinks and hard links resolved inside the image's root) and the limits on what
// one image may unpack. It never touches the host's file system.
package layer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Image layers are hostile input, so they are never written to disk: their tar entries are
// replayed into an in-memory tree that holds only directories, symlinks and the files the caller
// wants, with every path resolved inside the image's own root (symlinks, "..", absolute names and
// hard links included), so no entry can name anything on the host.

// Limits bound what one image may unpack, over all the layers of the image.
type Limits struct {
	// MaxBytes is the most uncompressed layer data the scan reads (every byte the
	// decompressors give, skipped file contents included).
	MaxBytes int64
	// MaxEntries is the most tar entries the scan reads.
	MaxEntries int
}

// The defaults fit every ordinary image; a scan that needs more fails with an error naming the
// setting to raise.
const (
	DefaultMaxBytes   int64 = 8 << 30
	DefaultMaxEntries       = 1_000_000
)

// orDefault fills zero limits with the defaults.
func (l Limits) orDefault() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	return l
}

const (
	// maxKept bounds what the tree keeps in memory: the package databases and the symlinks.
	maxKept = 256 << 20
	// maxName is the longest entry name or link target the scanner accepts (Linux's PATH_MAX).
	maxName = 4096
	// maxSteps bounds the work of resolving one path: components walked, symlinks expanded.
	maxSteps = 1024
	// maxHops is how many symlinks one resolution may follow (Linux's limit).
	maxHops = 40
	// maxWindow is the largest zstd window a layer may ask for (that of `zstd --long=27`).
	maxWindow = 128 << 20
)

// LimitError is a scan that stopped because the image is bigger than a limit allows.
type LimitError struct {
	What    string // "uncompressed layer data", "tar entries", "package databases"
	Limit   int64
	Setting string // the setting that raises the limit, if there is one
}

func (e *LimitError) Error() string {
	msg := fmt.Sprintf("the image holds more %s than a scan may unpack (%d)", e.What, e.Limit)
	if e.What != "tar entries" {
		msg = fmt.Sprintf("the image holds more %s than a scan may unpack (%s)", e.What, formatBytes(e.Limit))
	}
	if e.Setting != "" {
		return msg + "; the scan stopped: if the image is genuine, raise " + e.Setting
	}
	return msg + "; the scan stopped"
}

// formatBytes writes n in the largest binary unit that divides it, e.g. "8 GiB".
func formatBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

type nodeKind uint8

const (
	kindDir nodeKind = iota
	kindFile
	kindSymlink
)

// node is one thing the tree keeps: a directory, a package database (its content), or a symlink.
// Other files are not kept; layer says which layer last wrote the node, for whiteouts.
type node struct {
	kind     nodeKind
	layer    int
	link     string           // kindSymlink: the target as the layer wrote it
	data     *[]byte          // kindFile: the content, shared by hard links
	children map[string]*node // kindDir
}

// size is what the node counts against maxKept.
func (n *node) size() int64 {
	switch n.kind {
	case kindFile:
		return int64(len(*n.data))
	case kindSymlink:
		return int64(len(n.link))
	}
	return 0
}

// Tree is an image's file system as its layers build it, confined to itself: every name is
// resolved inside it and nothing in it refers to the host. It keeps the content of wanted files
// only.
type Tree struct {
	root    *node
	layer   int   // the layer being applied
	kept    int64 // bytes held by the nodes
	limits  Limits
	read    int64 // uncompressed bytes read, over all layers
	entries int   // tar entries read, over all layers
	// want reports whether a file's content is kept, given its name in the layer and the path
	// it resolves to.
	want func(name string) bool
}

// New returns an empty tree that keeps the content of the files want accepts (by their name in a
// layer, or the path it resolves to), within limits (zero fields take the defaults).
func New(limits Limits, want func(string) bool) *Tree {
	return &Tree{root: &node{kind: kindDir, children: map[string]*node{}}, limits: limits.orDefault(), want: want}
}

// cleanName turns an entry name or absolute link target into a path relative to the image's
// root: "..", "." and repeated slashes go, and nothing climbs above the root.
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// split is the components of a slash path, without empty ones.
func split(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

var errUnresolvable = errors.New("the path does not resolve inside the image (a symlink loop, or too deep)")

// resolve follows the symlinks of p inside the tree (its last component too when followLast)
// and returns the components of the path it names, relative to the root. An absolute link
// target starts again from the image's root and ".." stops at it, as in a chroot.
func (t *Tree) resolve(p string, followLast bool) ([]string, error) {
	rest := split(p)
	out := make([]string, 0, len(rest))
	stack := []*node{t.root} // stack[i] is the node at out[:i], nil where the tree keeps none
	hops, steps := 0, 0
	for len(rest) > 0 {
		if steps++; steps > maxSteps {
			return nil, errUnresolvable
		}
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(out) > 0 {
				out, stack = out[:len(out)-1], stack[:len(stack)-1]
			}
			continue
		}
		var n *node
		if cur := stack[len(stack)-1]; cur != nil && cur.kind == kindDir {
			n = cur.children[c]
		}
		if n != nil && n.kind == kindSymlink && (len(rest) > 0 || followLast) {
			if hops++; hops > maxHops {
				return nil, errUnresolvable
			}
			if strings.HasPrefix(n.link, "/") {
				out, stack = out[:0], stack[:1]
			}
			rest = append(split(n.link), rest...)
			continue
		}
		out = append(out, c)
		stack = append(stack, n)
	}
	return out, nil
}

// lookup returns the node at the resolved components parts, or nil.
func (t *Tree) lookup(parts []string) *node {
	n := t.root
	for _, c := range parts {
		if n == nil || n.kind != kindDir {
			return nil
		}
		n = n.children[c]
	}
	return n
}

// release takes n and everything under it off the kept count.
func (t *Tree) release(n *node) {
	t.kept -= n.size()
	for _, c := range n.children {
		t.release(c)
	}
}

// mkdirAll returns the directory at parts, creating missing ones and replacing anything else
// in the way (as tar extraction does), and marks each as touched by the current layer.
func (t *Tree) mkdirAll(parts []string) *node {
	n := t.root
	for _, c := range parts {
		child := n.children[c]
		if child == nil || child.kind != kindDir {
			if child != nil {
				t.release(child)
			}
			child = &node{kind: kindDir, children: map[string]*node{}}
			n.children[c] = child
		}
		child.layer = t.layer
		n = child
	}
	return n
}

// put places n at parts, replacing what was there.
func (t *Tree) put(parts []string, n *node) error {
	if len(parts) == 0 {
		return nil // the root itself is always a directory
	}
	var freed int64
	if old := t.lookup(parts); old != nil && old.kind != kindDir {
		freed = old.size()
	}
	if t.kept-freed+n.size() > maxKept {
		return &LimitError{What: "package databases and symlinks", Limit: maxKept}
	}
	dir := t.mkdirAll(parts[:len(parts)-1])
	base := parts[len(parts)-1]
	if old := dir.children[base]; old != nil {
		if old.kind == kindDir && n.kind == kindDir {
			old.layer = t.layer // a directory entry over a directory keeps its content
			return nil
		}
		t.release(old)
	}
	n.layer = t.layer
	dir.children[base] = n
	t.kept += n.size()
	return nil
}

// remove drops whatever is at parts (a file the tree does not keep replaced it).
func (t *Tree) remove(parts []string) {
	if len(parts) == 0 {
		return
	}
	dir := t.lookup(parts[:len(parts)-1])
	if dir == nil || dir.kind != kindDir {
		return
	}
	if old := dir.children[parts[len(parts)-1]]; old != nil {
		t.release(old)
		delete(dir.children, parts[len(parts)-1])
	}
}

// hide applies a whiteout to the child name of dir: what lower layers put there goes, what the
// current layer put there stays (the OCI image spec's rule).
func (t *Tree) hide(dir *node, name string) {
	c := dir.children[name]
	if c == nil {
		return
	}
	if c.layer < t.layer {
		t.release(c)
		delete(dir.children, name)
		return
	}
	if c.kind == kindDir {
		t.hideAll(c)
	}
}

// hideAll applies an opaque whiteout to dir: everything lower layers put in it goes.
func (t *Tree) hideAll(dir *node) {
	for name := range dir.children {
		t.hide(dir, name)
	}
}

// counter counts the uncompressed bytes of every layer against the limit, so a small layer that
// expands to gigabytes stops at the limit whatever the tar reader does with them.
type counter struct {
	r io.Reader
	t *Tree
}

func (c *counter) Read(p []byte) (int, error) {
	remaining := c.t.limits.MaxBytes - c.t.read
	if remaining < 0 {
		return 0, &LimitError{What: "uncompressed layer data", Limit: c.t.limits.MaxBytes, Setting: "BERTH_SCAN_MAX_BYTES"}
	}
	if int64(len(p)) > remaining+1 {
		p = p[:remaining+1] // one byte more than allowed is enough to know
	}
	n, err := c.r.Read(p)
	c.t.read += int64(n)
	if c.t.read > c.t.limits.MaxBytes {
		return n, &LimitError{What: "uncompressed layer data", Limit: c.t.limits.MaxBytes, Setting: "BERTH_SCAN_MAX_BYTES"}
	}
	return n, err
}

// Apply replays one layer (a tar stream, plain, gzip or zstd) onto the tree, the layers in
// the image's order. A *LimitError says the image is past a limit.
func (t *Tree) Apply(ctx context.Context, layer io.Reader) error {
	t.layer++
	br := bufio.NewReaderSize(layer, 1<<16)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		r = gz
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(&counter{r: r, t: t})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if le := (*LimitError)(nil); errors.As(err, &le) {
				return le
			}
			return fmt.Errorf("read tar: %w", err)
		}
		if t.entries++; t.entries > t.limits.MaxEntries {
			return &LimitError{What: "tar entries", Limit: int64(t.limits.MaxEntries), Setting: "BERTH_SCAN_MAX_FILES"}
		}
		if err := t.entry(h, tr); err != nil {
			return err
		}
	}
}

// entry applies one tar entry.
func (t *Tree) entry(h *tar.Header, content io.Reader) error {
	if len(h.Name) > maxName || len(h.Linkname) > maxName {
		return fmt.Errorf("entry %.64q…: a name or link target longer than %d bytes", h.Name, maxName)
	}
	name := cleanName(h.Name)
	if name == "" {
		return nil // the root
	}
	dirName, base := path.Split(name)
	// Parents resolve through symlinks (inside the tree), as tar extraction into a root does;
	// an entry whose parent cannot be resolved could not be extracted either, and is skipped.
	dir, err := t.resolve(dirName, true)
	if err != nil {
		return nil
	}
	if base == ".wh..wh..opq" {
		if d := t.lookup(dir); d != nil && d.kind == kindDir {
			t.hideAll(d)
		}
		return nil
	}
	if hidden, ok := strings.CutPrefix(base, ".wh."); ok {
		if d := t.lookup(dir); d != nil && d.kind == kindDir {
			t.hide(d, hidden)
		}
		return nil
	}
	full := append(dir, base)
	switch h.Typeflag {
	case tar.TypeDir:
		return t.put(full, &node{kind: kindDir, children: map[string]*node{}})
	case tar.TypeSymlink:
		return t.put(full, &node{kind: kindSymlink, link: h.Linkname})
	case tar.TypeLink:
		// A hard link names an earlier entry by its path in the image; it shares what the
		// tree keeps of it (a package database's content, or a symlink).
		target, err := t.resolve(cleanName(h.Linkname), false)
		if err != nil {
			t.remove(full)
			return nil
		}
		switch src := t.lookup(target); {
		case src != nil && src.kind == kindFile:
			return t.put(full, &node{kind: kindFile, data: src.data})
		case src != nil && src.kind == kindSymlink:
			return t.put(full, &node{kind: kindSymlink, link: src.link})
		}
		t.remove(full)
		return nil
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA still appears in old layers
		if !t.want(name) && !t.want(strings.Join(full, "/")) {
			t.remove(full)
			return nil
		}
		var freed int64
		if old := t.lookup(full); old != nil && old.kind != kindDir {
			freed = old.size()
		}
		if h.Size < 0 || t.kept-freed+h.Size > maxKept {
			return &LimitError{What: "package databases and symlinks", Limit: maxKept}
		}
		data, err := io.ReadAll(io.LimitReader(content, h.Size))
		if err != nil {
			if le := (*LimitError)(nil); errors.As(err, &le) {
				return le
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		return t.put(full, &node{kind: kindFile, data: &data})
	default:
		// Devices, FIFOs and the like: nothing the scanner reads, and never created anywhere.
		t.remove(full)
		return nil
	}
}

// Files returns the wanted files the image holds, by path: each kept file under its own path,
// under every wanted path that is a symlink to it (etc/os-release → ../usr/lib/os-release), and
// under each of alsoAt that resolves to it. Paths that share content map to the same slice.
func (t *Tree) Files(alsoAt []string) map[string]*[]byte {
	out := map[string]*[]byte{}
	var walk func(n *node, p string)
	walk = func(n *node, p string) {
		switch n.kind {
		case kindFile:
			out[p] = n.data
		case kindSymlink:
			alsoAt = append(alsoAt, p)
		case kindDir:
			names := make([]string, 0, len(n.children))
			for name := range n.children {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				walk(n.children[name], path.Join(p, name))
			}
		}
	}
	walk(t.root, "")
	for _, p := range alsoAt {
		if _, ok := out[p]; ok || !t.want(p) {
			continue
		}
		parts, err := t.resolve(p, true)
		if err != nil {
			continue
		}
		if n := t.lookup(parts); n != nil && n.kind == kindFile {
			out[p] = n.data
		}
	}
	return out
}
