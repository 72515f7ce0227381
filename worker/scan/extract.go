package scan

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/osrelease"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/simplefileapi"
	scalibrfs "github.com/google/osv-scalibr/fs"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/advisory"
)

// Content is the storage the scanner reads images from.
type Content interface {
	Manifest(ctx context.Context, repo string, dgst digest.Digest) (mediaType string, payload []byte, err error)
	Open(ctx context.Context, repo string, dgst digest.Digest) (io.ReadCloser, error)
}

// maxFileSize bounds one package database read from a layer.
const maxFileSize = 512 << 20

// wanted reports whether a file in a layer is one the OS package extractors read.
func wanted(name string) bool {
	switch name {
	case "etc/os-release", "usr/lib/os-release",
		"var/lib/dpkg/status", "lib/apk/db/installed", "usr/lib/apk/db/installed":
		return true
	}
	if strings.HasPrefix(name, "var/lib/dpkg/status.d/") {
		return true
	}
	for _, dir := range []string{"var/lib/rpm/", "usr/lib/sysimage/rpm/", "usr/share/rpm/"} {
		if rest, ok := strings.CutPrefix(name, dir); ok && !strings.Contains(rest, "/") {
			return rest == "Packages" || rest == "Packages.db" || rest == "rpmdb.sqlite"
		}
	}
	return false
}

// manifest is the part of an OCI or Docker v2 image manifest the scanner reads.
type manifest struct {
	Layers []struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
	} `json:"layers"`
}

// packages reads the image manifest dgst of repo, unpacks the package databases and os-release
// of its layers (in order, honouring whiteouts) into a temporary directory, and runs the dpkg,
// apk and rpm extractors over them. progress is called after each layer.
func packages(ctx context.Context, content Content, repo string, dgst digest.Digest, progress func(done, total int)) ([]advisory.Package, string, error) {
	_, payload, err := content.Manifest(ctx, repo, dgst)
	if err != nil {
		return nil, "", err
	}
	var m manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, "", fmt.Errorf("manifest %s: %w", dgst, err)
	}
	root, err := os.MkdirTemp("", "berth-scan-")
	if err != nil {
		return nil, "", fmt.Errorf("scan %s: %w", dgst, err)
	}
	defer os.RemoveAll(root)
	for i, l := range m.Layers {
		if err := unpackLayer(ctx, content, repo, l.Digest, root); err != nil {
			return nil, "", fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if progress != nil {
			progress(i+1, len(m.Layers))
		}
	}
	return extract(ctx, root)
}

// unpackLayer writes the wanted files of one layer under root, applying its whiteouts first
// to what earlier layers left.
func unpackLayer(ctx context.Context, content Content, repo string, dgst digest.Digest, root string) error {
	rc, err := content.Open(ctx, repo, dgst)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<16)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if name == "" || strings.HasPrefix(name, "../") {
			continue
		}
		dir, base := path.Split(name)
		if base == ".wh..wh..opq" {
			// An opaque directory hides everything earlier layers put in it.
			if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(dir))); err != nil {
				return err
			}
			continue
		}
		if hidden, ok := strings.CutPrefix(base, ".wh."); ok {
			if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(dir+hidden))); err != nil {
				return err
			}
			continue
		}
		if !wanted(name) {
			continue
		}
		dst := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		_ = os.RemoveAll(dst)
		switch h.Typeflag {
		case tar.TypeReg:
			if h.Size > maxFileSize {
				return fmt.Errorf("%s is %d bytes, more than the scanner reads (%d)", name, h.Size, maxFileSize)
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, io.LimitReader(tr, maxFileSize))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			// os-release is usually a link to ../usr/lib/os-release. Keep links inside root:
			// an absolute target is taken relative to the image's root.
			target := h.Linkname
			if path.IsAbs(target) {
				target = path.Clean(target)
			} else {
				target = path.Clean("/" + path.Join(dir, target))
			}
			rel, err := filepath.Rel(filepath.Dir(dst), filepath.Join(root, filepath.FromSlash(target)))
			if err != nil {
				return err
			}
			if err := os.Symlink(rel, dst); err != nil {
				return err
			}
		}
	}
}

// extract runs the OS package extractors over the unpacked files and returns the packages with
// the ecosystems to match them in, and the OS as "ID VERSION_ID".
func extract(ctx context.Context, root string) ([]advisory.Package, string, error) {
	fsys := scalibrfs.DirFS(root)
	osRelease, _ := osrelease.GetOSRelease(fsys)
	cfg := &cpb.PluginConfig{}
	var extractors []filesystem.Extractor
	for _, newExtractor := range []func(*cpb.PluginConfig) (filesystem.Extractor, error){dpkg.New, apk.New, rpm.New} {
		e, err := newExtractor(cfg)
		if err != nil {
			return nil, "", fmt.Errorf("extractor: %w", err)
		}
		extractors = append(extractors, e)
	}
	var out []advisory.Package
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		info, err := os.Stat(p)
		if err != nil || !info.Mode().IsRegular() {
			return nil // a dangling link
		}
		for _, e := range extractors {
			if !e.FileRequired(simplefileapi.New(rel, info)) {
				continue
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			inv, err := e.Extract(ctx, &filesystem.ScanInput{FS: fsys, Path: rel, Root: root, Info: info, Reader: f})
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: read %s: %w", e.Name(), rel, err)
			}
			for _, pkg := range inv.Packages {
				out = append(out, toPackage(osRelease, pkg.Name, pkg.Version, pkg.Metadata))
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, strings.TrimSpace(osRelease["ID"] + " " + osRelease["VERSION_ID"]), nil
}

// toPackage names the ecosystems an extracted package is matched in, most specific first, and
// its source package.
func toPackage(osRelease map[string]string, name, version string, meta any) advisory.Package {
	p := advisory.Package{Name: name, Version: version}
	id, versionID := osRelease["ID"], osRelease["VERSION_ID"]
	major, _, _ := strings.Cut(versionID, ".")
	switch m := meta.(type) {
	case *dpkgmeta.Metadata:
		p.Source, p.SourceVersion = m.SourceName, m.SourceVersion
		if p.Source == "" {
			p.Source = name
		}
		switch id {
		case "ubuntu":
			p.Ecosystems = []string{"Ubuntu:" + versionID, "Ubuntu:" + versionID + ":LTS", "Ubuntu"}
		default:
			p.Ecosystems = []string{"Debian:" + major, "Debian"}
		}
	case *apkmeta.Metadata:
		p.Source = m.OriginName
		parts := strings.SplitN(versionID, ".", 3)
		if len(parts) >= 2 {
			p.Ecosystems = []string{"Alpine:v" + parts[0] + "." + parts[1], "Alpine"}
		} else {
			p.Ecosystems = []string{"Alpine"}
		}
		if id == "wolfi" {
			p.Ecosystems = []string{"Wolfi"}
		}
	case *rpmmeta.Metadata:
		if m.Epoch > 0 {
			p.Version = strconv.Itoa(m.Epoch) + ":" + version
		}
		p.Source = sourceRPMName(m.SourceRPM)
		switch id {
		case "almalinux":
			p.Ecosystems = []string{"AlmaLinux:" + major, "AlmaLinux"}
		case "rocky":
			p.Ecosystems = []string{"Rocky Linux:" + major, "Rocky Linux"}
		case "opensuse-leap":
			p.Ecosystems = []string{"openSUSE:Leap " + versionID, "openSUSE"}
		default:
			p.Ecosystems = []string{"Red Hat"}
		}
	}
	return p
}

// sourceRPMName is the package name of a source RPM file name: "openssl-3.0.7-24.el9.src.rpm" → "openssl".
func sourceRPMName(file string) string {
	s := strings.TrimSuffix(file, ".rpm")
	s = strings.TrimSuffix(s, ".src")
	for range 2 {
		i := strings.LastIndex(s, "-")
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}
