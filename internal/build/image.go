package build

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// writeImage writes the final stage's config and OCI manifest to the
// BlobStore and returns the image.
func (b *Builder) writeImage(ctx context.Context, st *stageState) (*Result, error) {
	cfg := cloneConfig(st.cfg)
	for k, v := range b.opts.Labels {
		if cfg.Config.Labels == nil {
			cfg.Config.Labels = map[string]string{}
		}
		cfg.Config.Labels[k] = v
	}
	if b.opts.InlineCache {
		label, err := inlineCacheLabel(st.steps)
		if err != nil {
			return nil, err
		}
		if cfg.Config.Labels == nil {
			cfg.Config.Labels = map[string]string{}
		}
		cfg.Config.Labels[inlineCacheKey] = label
	}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = nil
	for _, l := range st.layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	if cfg.RootFS.DiffIDs == nil {
		cfg.RootFS.DiffIDs = []v1.Hash{}
	}
	// The image is as new as its newest step: a rebuild from cache gives
	// the same image ID, and SOURCE_DATE_EPOCH pins every time.
	created := time.Time{}
	for i := range cfg.History {
		if b.opts.Epoch != nil && cfg.History[i].Created.After(*b.opts.Epoch) {
			cfg.History[i].Created = v1.Time{Time: *b.opts.Epoch}
		}
		if t := cfg.History[i].Created.Time; t.After(created) {
			created = t
		}
	}
	if created.IsZero() {
		created = b.now
	}
	cfg.Created = v1.Time{Time: created}
	if cfg.OS == "" {
		cfg.OS = b.opts.Platform.OS
		cfg.Architecture = b.opts.Platform.Architecture
	}
	cb, err := image.MarshalConfig(&cfg)
	if err != nil {
		return nil, err
	}
	raw := cb.Bytes
	cdig, csize, err := b.putBytes(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("storing image config: %w", err)
	}
	layers := []v1.Descriptor{}
	for _, l := range st.layers {
		mt := l.MediaType
		switch mt {
		case types.DockerLayer:
			mt = types.OCILayer
		case types.DockerUncompressedLayer:
			mt = types.OCIUncompressedLayer
		}
		layers = append(layers, v1.Descriptor{MediaType: mt, Digest: l.Digest, Size: l.Size})
	}
	mb, err := image.MarshalManifest(v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: cdig, Size: csize}, layers, nil)
	if err != nil {
		return nil, err
	}
	rawm := mb.Bytes
	mdig, msize, err := b.putBytes(ctx, rawm)
	if err != nil {
		return nil, fmt.Errorf("storing manifest: %w", err)
	}
	core := &builtImage{b: b, cfg: raw, manifest: rawm, layers: st.layers}
	img, err := partial.CompressedToImage(core)
	if err != nil {
		return nil, err
	}
	return &Result{
		Image:    img,
		Manifest: v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: mdig, Size: msize},
		ID:       cdig,
		Steps:    b.prog.n,
	}, nil
}

// builtImage serves the built image from the BlobStore.
type builtImage struct {
	b        *Builder
	cfg      []byte
	manifest []byte
	layers   []Layer
}

func (i *builtImage) RawConfigFile() ([]byte, error)      { return i.cfg, nil }
func (i *builtImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (i *builtImage) RawManifest() ([]byte, error)        { return i.manifest, nil }

func (i *builtImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range i.layers {
		if l.Digest == h {
			if vl, ok := i.b.baseLayers.Load(h); ok {
				return vl.(v1.Layer), nil
			}
			return &blobLayer{l: l, blobs: i.b.opts.Blobs}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the image", h)
}

var _ io.Reader

// putBytes stores a small blob unless it is already there (a rebuild from
// cache makes the very same config and manifest).
func (b *Builder) putBytes(ctx context.Context, data []byte) (v1.Hash, int64, error) {
	h, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return v1.Hash{}, 0, err
	}
	if b.opts.Blobs.HasBlob(h) {
		return h, int64(len(data)), nil
	}
	return b.opts.Blobs.PutBlob(ctx, h, bytes.NewReader(data))
}
