// Package manifest reads what Berth's index records of a pushed manifest or index (OCI image,
// OCI index, Docker schema 2, Docker manifest list, OCI artifacts): its types, the blobs it stands
// on, the children it lists, its subject and its size. It refuses what the index could not
// record faithfully. It touches neither storage nor the database.
package manifest

import (
	"encoding/json"
	"fmt"
	"math"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// document is the part of every manifest format that the index needs. The formats share these
// field names.
type document struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *v1.Descriptor    `json:"config"`
	Layers       []v1.Descriptor   `json:"layers"`
	Manifests    []v1.Descriptor   `json:"manifests"`
	Subject      *v1.Descriptor    `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

// Info is what the index records of a manifest: its types, the blobs it stands on
// besides itself (config and distributable layers), the children an index lists, and the size
// of itself, its config and its layers (children's sizes are added from the database).
type Info struct {
	MediaType, ArtifactType string
	Config                  *v1.Descriptor // an image's config, nil for an index
	Blobs                   []v1.Descriptor
	Children                []string
	Subject                 *v1.Descriptor
	Annotations             map[string]string
	Size                    int64
}

// Parse reads what the index needs from a manifest's payload. mediaType is the one the
// client sent, if any. A manifest the index cannot record faithfully is refused: a descriptor
// with a negative size or a malformed digest, or sizes that add up past int64.
func Parse(mediaType string, payload []byte) (Info, error) {
	var doc document
	if err := json.Unmarshal(payload, &doc); err != nil {
		return Info{}, fmt.Errorf("decode manifest: %w", err)
	}
	info := Info{MediaType: mediaType, ArtifactType: doc.ArtifactType, Config: doc.Config, Annotations: doc.Annotations,
		Subject: doc.Subject, Size: int64(len(payload))}
	if info.MediaType == "" {
		info.MediaType = doc.MediaType
	}
	if info.ArtifactType == "" && doc.Config != nil {
		info.ArtifactType = doc.Config.MediaType
	}
	add := func(what string, d v1.Descriptor) error {
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("%s digest %.80q: %w", what, d.Digest, err)
		}
		if d.Size < 0 {
			return fmt.Errorf("%s %s has a negative size", what, d.Digest)
		}
		if info.Size > math.MaxInt64-d.Size {
			return fmt.Errorf("the sizes of the manifest's blobs add up to more than %d bytes", int64(math.MaxInt64))
		}
		info.Size += d.Size
		info.Blobs = append(info.Blobs, d)
		return nil
	}
	if doc.Config != nil {
		if err := add("config", *doc.Config); err != nil {
			return Info{}, err
		}
	}
	for _, l := range doc.Layers {
		if len(l.URLs) > 0 {
			continue // non-distributable: never stored here
		}
		if err := add("layer", l); err != nil {
			return Info{}, err
		}
	}
	for _, c := range doc.Manifests {
		if err := c.Digest.Validate(); err != nil {
			return Info{}, fmt.Errorf("child manifest digest %.80q: %w", c.Digest, err)
		}
		info.Children = append(info.Children, c.Digest.String())
	}
	if doc.Subject != nil {
		if err := doc.Subject.Digest.Validate(); err != nil {
			return Info{}, fmt.Errorf("subject digest %.80q: %w", doc.Subject.Digest, err)
		}
	}
	return info, nil
}
