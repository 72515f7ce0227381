package manifest_test

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/registry/manifest"
)

const d1 = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

// What the index could not record faithfully is refused, naming what is wrong; an ordinary
// image is read whole.
func TestParse(t *testing.T) {
	t.Parallel()
	info, err := manifest.Parse("", []byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"`+d1+`","size":10},
"layers":[{"digest":"`+d1+`","size":100},{"digest":"`+d1+`","size":5,"urls":["https://example.com"]}]}`))
	if err != nil || info.MediaType != "application/vnd.oci.image.manifest.v1+json" || info.ArtifactType != "application/vnd.oci.image.config.v1+json" ||
		len(info.Blobs) != 2 || info.Size < 110 {
		t.Fatalf("Parse = %+v, %v", info, err)
	}
	for payload, want := range map[string]string{
		`{"layers":[{"digest":"` + d1 + `","size":-1}]}`:                                                            "negative size",
		`{"config":{"digest":"` + d1 + `","size":9223372036854775807},"layers":[{"digest":"` + d1 + `","size":1}]}`: "add up",
		`{"layers":[{"digest":"sha256:zz","size":1}]}`:                                                              "layer digest",
		`{"manifests":[{"digest":"../x"}]}`:                                                                         "child manifest digest",
		`{"subject":{"digest":""}}`:                                                                                 "subject digest",
		`[`:                                                                                                         "decode manifest",
	} {
		if _, err := manifest.Parse("", []byte(payload)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v; want an error about %s", payload, err, want)
		}
	}
}
