package image

import (
	"encoding/json"
	"os"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Now is the creation time for images berth makes: SOURCE_DATE_EPOCH when
// set (reproducible builds), else the current time, in UTC.
func Now() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC()
}

// NewConfigFile returns an empty config for this machine's platform (with
// its variant, as docker import writes it).
func NewConfigFile(created time.Time) *v1.ConfigFile {
	p := HostPlatform()
	return &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      v1.Time{Time: created},
		RootFS:       v1.RootFS{Type: "layers"},
	}
}

// Blob is a serialised config or manifest with its descriptor.
type Blob struct {
	Bytes      []byte
	Descriptor v1.Descriptor
}

// MarshalConfig serialises a config file as an OCI config blob.
func MarshalConfig(cfg *v1.ConfigFile) (Blob, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return Blob{}, err
	}
	return newBlob(b, types.OCIConfigJSON)
}

// MarshalManifest serialises an OCI image manifest for config and layers.
func MarshalManifest(config v1.Descriptor, layers []v1.Descriptor, annotations map[string]string) (Blob, error) {
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        config,
		Layers:        layers,
		Annotations:   annotations,
	}
	if m.Layers == nil {
		m.Layers = []v1.Descriptor{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return Blob{}, err
	}
	return newBlob(b, types.OCIManifestSchema1)
}

// MarshalIndex serialises an OCI image index of manifests: an image
// layout's index.json, or a multi-platform image.
func MarshalIndex(manifests []v1.Descriptor, annotations map[string]string) (Blob, error) {
	m := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     manifests,
		Annotations:   annotations,
	}
	if m.Manifests == nil {
		m.Manifests = []v1.Descriptor{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return Blob{}, err
	}
	return newBlob(b, types.OCIImageIndex)
}

func newBlob(b []byte, mt types.MediaType) (Blob, error) {
	h, _, err := v1.SHA256(bytesReader(b))
	if err != nil {
		return Blob{}, err
	}
	return Blob{Bytes: b, Descriptor: v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: h}}, nil
}
