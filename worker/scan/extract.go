package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

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
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/advisory"
	"github.com/berth-registry/berth/worker/scan/layer"
)

// Content is the storage the scanner reads images from.
type Content interface {
	Manifest(ctx context.Context, repo string, dgst digest.Digest) (mediaType string, payload []byte, err error)
	Open(ctx context.Context, repo string, dgst digest.Digest) (io.ReadCloser, error)
}

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

// wantedPaths are the fixed paths wanted names the extractors look at; each is also looked up
// through the image's symlinks (etc/os-release is usually one).
var wantedPaths = []string{"etc/os-release", "usr/lib/os-release", "var/lib/dpkg/status", "lib/apk/db/installed",
	"usr/lib/apk/db/installed", "var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "var/lib/rpm/rpmdb.sqlite",
	"usr/lib/sysimage/rpm/Packages", "usr/lib/sysimage/rpm/Packages.db", "usr/lib/sysimage/rpm/rpmdb.sqlite",
	"usr/share/rpm/Packages", "usr/share/rpm/Packages.db", "usr/share/rpm/rpmdb.sqlite"}

// manifest is the part of an OCI or Docker v2 image manifest the scanner reads.
type manifest struct {
	Layers []struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
	} `json:"layers"`
}

// Unpack is where and how much the built-in scanner may unpack.
type Unpack struct {
	// Dir is the scanner's own folder: the only place on disk a scan writes (the rpm database
	// reader needs a file), one subfolder per scan, removed when the scan ends.
	Dir    string
	Limits layer.Limits
}

// packages reads the image manifest dgst of repo, replays its layers (in order, honouring
// whiteouts) into an in-memory tree that keeps only the package databases and os-release, and
// runs the dpkg, apk and rpm extractors over them. progress is called after each layer.
func packages(ctx context.Context, content Content, repo string, dgst digest.Digest, unpack Unpack, progress func(done, total int)) ([]advisory.Package, string, error) {
	_, payload, err := content.Manifest(ctx, repo, dgst)
	if err != nil {
		return nil, "", err
	}
	var m manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, "", fmt.Errorf("manifest %s: %w", dgst, err)
	}
	t := layer.New(unpack.Limits, wanted)
	for i, l := range m.Layers {
		if err := applyLayer(ctx, content, repo, l.Digest, t); err != nil {
			return nil, "", fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if progress != nil {
			progress(i+1, len(m.Layers))
		}
	}
	return extract(ctx, t.Files(wantedPaths), unpack.Dir)
}

// applyLayer replays one layer blob onto t.
func applyLayer(ctx context.Context, content Content, repo string, dgst digest.Digest, t *layer.Tree) error {
	rc, err := content.Open(ctx, repo, dgst)
	if err != nil {
		return err
	}
	defer rc.Close()
	return t.Apply(ctx, rc)
}

// extract runs the OS package extractors over the files an image holds and returns the
// packages with the ecosystems to match them in, and the OS as "ID VERSION_ID". A database
// reachable under several paths is read once. Only the rpm reader needs a file on disk: it gets
// a copy in a fresh subfolder of dir, removed on return.
func extract(ctx context.Context, files map[string]*[]byte, dir string) ([]advisory.Package, string, error) {
	fsys := fstest.MapFS{} // an in-memory fs.FS with directories, Stat and ReadDir, as scalibr needs
	for p, data := range files {
		fsys[p] = &fstest.MapFile{Data: *data, Mode: 0o444}
	}
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
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var (
		out     []advisory.Package
		done    = map[*[]byte]bool{}
		workdir *os.Root
	)
	defer func() {
		if workdir != nil {
			name := workdir.Name()
			workdir.Close()
			os.RemoveAll(name)
		}
	}()
	for _, p := range paths {
		data := files[p]
		if done[data] {
			continue
		}
		info, err := fs.Stat(fsys, p)
		if err != nil {
			return nil, "", err
		}
		for _, e := range extractors {
			if !e.FileRequired(simplefileapi.New(p, info)) {
				continue
			}
			done[data] = true
			input := &filesystem.ScanInput{FS: fsys, Path: p, Info: info, Reader: bytes.NewReader(*data)}
			if e.Name() == rpm.Name {
				if workdir == nil {
					if workdir, err = scratch(dir); err != nil {
						return nil, "", err
					}
				}
				name := fmt.Sprintf("rpmdb-%d", len(done))
				if err := writeFile(workdir, name, *data); err != nil {
					return nil, "", err
				}
				input.Root, input.Path = workdir.Name(), name
			}
			inv, err := e.Extract(ctx, input)
			if err != nil {
				return nil, "", fmt.Errorf("%s: read %s: %w", e.Name(), p, err)
			}
			for _, pkg := range inv.Packages {
				out = append(out, toPackage(osRelease, pkg.Name, pkg.Version, pkg.Metadata))
			}
		}
	}
	return out, strings.TrimSpace(osRelease["ID"] + " " + osRelease["VERSION_ID"]), nil
}

// scratch makes a fresh folder for one scan inside dir and opens it as a root, so that nothing
// written through it can land elsewhere.
func scratch(dir string) (*os.Root, error) {
	if dir == "" {
		return nil, errors.New("the scanner has no folder of its own to read rpm databases in")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("scanner folder: %w", err)
	}
	p, err := os.MkdirTemp(dir, scratchPrefix)
	if err != nil {
		return nil, fmt.Errorf("scanner folder: %w", err)
	}
	r, err := os.OpenRoot(p)
	if err != nil {
		os.RemoveAll(p)
		return nil, fmt.Errorf("scanner folder: %w", err)
	}
	return r, nil
}

// writeFile writes data as name in root.
func writeFile(root *os.Root, name string, data []byte) error {
	f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("scanner folder: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("scanner folder: %w", err)
	}
	return nil
}

// scratchPrefix names the per-scan folders in the scanner's folder.
const scratchPrefix = "scan-"

// CleanScratch removes the per-scan folders in dir older than age: those of scans that were
// killed before they could remove their own. A scan never runs longer than its job's timeout, so
// an age above it touches no live scan, whichever process runs it.
func CleanScratch(dir string, age time.Duration) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scanner folder: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), scratchPrefix) {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < age {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
