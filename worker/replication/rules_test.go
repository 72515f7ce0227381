package replication

import (
	"slices"
	"testing"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/schema"
)

func TestDestRepository(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ns    string
		count int
		src   string
		want  string
	}{
		{"", 0, "library/a/b", "library/a/b"},
		{"mirror", 0, "library/a/b", "mirror/library/a/b"},
		{"mirror", 1, "library/a/b", "mirror/a/b"},
		{"mirror", 2, "library/a/b", "mirror/b"},
		{"mirror", 5, "library/a/b", "mirror/b"},
		{"mirror", -1, "library/a/b", "mirror/b"},
		{"dr/site", 1, "library/app", "dr/site/app"},
	} {
		p := &ent.ReplicationPolicy{DestNamespace: tc.ns, DestNamespaceReplaceCount: tc.count}
		if got := destRepository(p, tc.src); got != tc.want {
			t.Errorf("namespace %q, flatten %d: %s → %s, want %s", tc.ns, tc.count, tc.src, got, tc.want)
		}
	}
}

func TestTagsPass(t *testing.T) {
	t.Parallel()
	tags := []string{"v1", "v1-dev", "latest"}
	for _, tc := range []struct {
		f    schema.ReplicationFilter
		in   []string
		want []string
		ok   bool
	}{
		{schema.ReplicationFilter{}, tags, tags, true},
		{schema.ReplicationFilter{}, nil, nil, true}, // untagged passes without a tag filter
		{schema.ReplicationFilter{Tag: "v*"}, tags, []string{"v1", "v1-dev"}, true},
		{schema.ReplicationFilter{Tag: "*-dev", TagExclude: true}, tags, []string{"v1", "latest"}, true},
		{schema.ReplicationFilter{Tag: "{v1,latest}"}, tags, []string{"v1", "latest"}, true},
		{schema.ReplicationFilter{Tag: "v2*"}, tags, nil, false},
		{schema.ReplicationFilter{Tag: "v*"}, nil, nil, false}, // untagged fails a tag filter
	} {
		got, ok := tagsPass(tc.f, tc.in)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("%+v on %v = %v %t, want %v %t", tc.f, tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestManifestRefs(t *testing.T) {
	t.Parallel()
	image := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":2},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:bb","size":3},
{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:cc","size":4,"urls":["https://x"]}]}`
	children, blobs, err := manifestRefs("application/vnd.oci.image.manifest.v1+json", []byte(image))
	if err != nil || len(children) != 0 || len(blobs) != 2 || blobs[0].Digest != "sha256:aa" || blobs[1].Digest != "sha256:bb" {
		t.Fatalf("image: %v %v %v (a foreign layer is not the registry's to copy)", children, blobs, err)
	}
	if !isImage("application/vnd.oci.image.manifest.v1+json", []byte(image)) {
		t.Error("an image is not an image")
	}
	index := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dd","size":5}]}`
	children, blobs, err = manifestRefs("application/vnd.oci.image.index.v1+json", []byte(index))
	if err != nil || len(children) != 1 || len(blobs) != 0 {
		t.Fatalf("index: %v %v %v", children, blobs, err)
	}
	sbom := `{"schemaVersion":2,"artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:ee","size":2},"layers":[]}`
	if isImage("application/vnd.oci.image.manifest.v1+json", []byte(sbom)) {
		t.Error("an SBOM is taken for an image")
	}
	if _, _, err := manifestRefs("x", []byte("not json")); err == nil {
		t.Error("a manifest that is not JSON was read")
	}
}

func TestResourceNames(t *testing.T) {
	t.Parallel()
	for res, want := range map[string]string{
		"library/app:v1,v2":        "library/app",
		"localhost/app@sha256:abc": "localhost/app",
		"library/app":              "library/app",
		"mirror/a/b:latest":        "mirror/a/b",
	} {
		if got := repoOf(res); got != want {
			t.Errorf("repoOf(%q) = %q, want %q", res, got, want)
		}
	}
	if !isCosignTag("sha256-0123.sig") || !isCosignTag("sha256-0123.att") || isCosignTag("v1.sig") || isCosignTag("sha256-0123") {
		t.Error("cosign tags told apart wrongly")
	}
}
