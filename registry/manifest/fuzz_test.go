package manifest

import (
	"encoding/json"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzParseManifest feeds pushed manifests and indexes to what the index reads of them. Whatever
// the payload, parsing never panics, and what it accepts the index can record faithfully: valid
// digests, no negative sizes, a size that is the payload plus its blobs (no overflow), only
// distributable layers, every child listed, and the same answer when the accepted document is
// written back and read again.
func FuzzParseManifest(f *testing.F) {
	f.Add("application/vnd.oci.image.manifest.v1+json", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef","size":1024},
{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"sha256:6f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef","size":9,"urls":["https://example.com/l"]}],
"annotations":{"org.opencontainers.image.created":"2026-01-01T00:00:00Z"}}`))
	f.Add("", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":500,"platform":{"architecture":"amd64","os":"linux"}}]}`))
	f.Add("application/vnd.oci.image.manifest.v1+json", []byte(`{"schemaVersion":2,"artifactType":"application/vnd.example.sbom",
"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef","size":7}}`))
	f.Add("", []byte(`{"config":{"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":9223372036854775807},"layers":[{"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":1}]}`))
	f.Add("", []byte(`{"layers":[{"digest":"sha256:zz","size":-1}],"manifests":[{"digest":"../../x"}],"subject":{"digest":""}}`))
	f.Add("", []byte(`null`))
	f.Fuzz(func(t *testing.T, mediaType string, payload []byte) {
		info, err := Parse(mediaType, payload)
		if err != nil {
			return
		}
		var doc document
		if json.Unmarshal(payload, &doc) != nil {
			t.Fatalf("accepted a payload that is not a JSON manifest: %q", payload)
		}
		sum := int64(len(payload))
		for _, b := range info.Blobs {
			if b.Digest.Validate() != nil || b.Size < 0 || len(b.URLs) > 0 {
				t.Fatalf("recorded blob %+v: an invalid digest, a negative size or a non-distributable layer", b)
			}
			sum += b.Size
			if sum < 0 {
				t.Fatalf("blob sizes overflow: %+v", info.Blobs)
			}
		}
		if sum != info.Size || info.Size < int64(len(payload)) {
			t.Fatalf("size %d; the payload and blobs add up to %d", info.Size, sum)
		}
		if len(info.Children) != len(doc.Manifests) {
			t.Fatalf("%d children recorded of %d listed", len(info.Children), len(doc.Manifests))
		}
		for _, c := range info.Children {
			if digest.Digest(c).Validate() != nil {
				t.Fatalf("child digest %q recorded", c)
			}
		}
		if info.Subject != nil && info.Subject.Digest.Validate() != nil {
			t.Fatalf("subject digest %q recorded", info.Subject.Digest)
		}
		if mediaType != "" && info.MediaType != mediaType || mediaType == "" && info.MediaType != doc.MediaType {
			t.Fatalf("media type %q from %q and %q", info.MediaType, mediaType, doc.MediaType)
		}

		// Written back as a document of the blobs and children it recorded, it reads the same.
		again := document{MediaType: info.MediaType, ArtifactType: info.ArtifactType, Subject: info.Subject,
			Annotations: info.Annotations}
		for i, b := range info.Blobs {
			if i == 0 && doc.Config != nil {
				again.Config = &v1.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
				continue
			}
			again.Layers = append(again.Layers, v1.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
		}
		for _, c := range info.Children {
			again.Manifests = append(again.Manifests, v1.Descriptor{Digest: digest.Digest(c)})
		}
		payload2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		info2, err := Parse(info.MediaType, payload2)
		if err != nil {
			t.Fatalf("the accepted manifest, written back, is refused: %v", err)
		}
		if info2.Size-int64(len(payload2)) != info.Size-int64(len(payload)) || len(info2.Blobs) != len(info.Blobs) ||
			len(info2.Children) != len(info.Children) || info2.ArtifactType != info.ArtifactType {
			t.Fatalf("written back, the manifest reads differently:\n%+v\n%+v", info, info2)
		}
	})
}
