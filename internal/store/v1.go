package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Image returns the v1.Image of a record; for an index, the child for
// platform (nil: this machine's). Blobs are read lazily from the store.
func (s *Store) Image(ctx context.Context, img Image, platform *v1.Platform) (v1.Image, error) {
	desc := img.Descriptor()
	if img.IsIndex() {
		im, err := s.IndexManifest(img.Digest)
		if err != nil {
			return nil, err
		}
		d, err := s.PlatformManifest(im, platform, true)
		if err != nil {
			return nil, err
		}
		desc = d
	}
	return s.ImageByDescriptor(desc)
}

// ImageByDescriptor returns the v1.Image of a manifest in the store.
func (s *Store) ImageByDescriptor(desc v1.Descriptor) (v1.Image, error) {
	raw, err := s.ReadBlob(desc.Digest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	if desc.MediaType == "" {
		desc.MediaType = m.MediaType
	}
	core := &storeImage{s: s, desc: desc, raw: raw, m: m}
	img, err := partial.CompressedToImage(core)
	if err != nil {
		return nil, err
	}
	return &verifiedImage{Image: img, core: core}, nil
}

// verifiedImage is a store image whose layers are storeLayers: their
// DiffID is the config's, and their Uncompressed content is checked against
// it (Store.OpenLayer). go-containerregistry's own layers would take the
// DiffID by hashing the content, so a layer that is not what the config
// says would pass as another one.
type verifiedImage struct {
	v1.Image
	core *storeImage

	once    sync.Once
	diffIDs []v1.Hash
	cfgErr  error
}

func (i *verifiedImage) config() ([]v1.Hash, error) {
	i.once.Do(func() {
		cf, err := i.Image.ConfigFile()
		if err != nil {
			i.cfgErr = err
			return
		}
		i.diffIDs = cf.RootFS.DiffIDs
	})
	return i.diffIDs, i.cfgErr
}

func (i *verifiedImage) layer(n int) (v1.Layer, error) {
	diffIDs, err := i.config()
	if err != nil {
		return nil, err
	}
	l := &storeLayer{s: i.core.s, desc: i.core.m.Layers[n]}
	if n < len(diffIDs) {
		l.diffID = diffIDs[n]
	} else {
		l.err = fmt.Errorf("layer %s: the image config lists %d diff_ids for %d layers", l.desc.Digest, len(diffIDs), len(i.core.m.Layers))
	}
	return l, nil
}

func (i *verifiedImage) Layers() ([]v1.Layer, error) {
	out := make([]v1.Layer, len(i.core.m.Layers))
	for n := range out {
		l, err := i.layer(n)
		if err != nil {
			return nil, err
		}
		out[n] = l
	}
	return out, nil
}

func (i *verifiedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for n, l := range i.core.m.Layers {
		if l.Digest == h {
			return i.layer(n)
		}
	}
	return i.Image.LayerByDigest(h) // the config blob
}

func (i *verifiedImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	diffIDs, err := i.config()
	if err != nil {
		return nil, err
	}
	for n, d := range diffIDs {
		if d == h && n < len(i.core.m.Layers) {
			return i.layer(n)
		}
	}
	return nil, fmt.Errorf("no layer with diff ID %s in image %s", h, i.core.desc.Digest)
}

// storeLayer is a layer blob of a store image.
type storeLayer struct {
	s      *Store
	desc   v1.Descriptor
	diffID v1.Hash // the config's
	err    error   // the config names no diff ID for this layer
}

func (l *storeLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *storeLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *storeLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *storeLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }
func (l *storeLayer) Compressed() (io.ReadCloser, error)  { return l.s.OpenBlob(l.desc.Digest) }
func (l *storeLayer) Exists() (bool, error)               { return l.s.HasBlob(l.desc.Digest), nil }
func (l *storeLayer) DiffID() (v1.Hash, error)            { return l.diffID, l.err }

func (l *storeLayer) Uncompressed() (io.ReadCloser, error) {
	if l.err != nil {
		return nil, l.err
	}
	return l.s.OpenLayer(l.desc, l.diffID)
}

// Index returns the v1.ImageIndex of an index record.
func (s *Store) Index(ctx context.Context, img Image) (v1.ImageIndex, error) {
	if !img.IsIndex() {
		return nil, fmt.Errorf("%s is not a multi-platform index", img.Digest)
	}
	return s.indexByDescriptor(img.Descriptor())
}

func (s *Store) indexByDescriptor(desc v1.Descriptor) (v1.ImageIndex, error) {
	raw, err := s.ReadBlob(desc.Digest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
	}
	return &storeIndex{s: s, desc: desc, raw: raw, m: m}, nil
}

type storeImage struct {
	s    *Store
	desc v1.Descriptor
	raw  []byte
	m    *v1.Manifest
}

func (i *storeImage) RawConfigFile() ([]byte, error)      { return i.s.ReadBlob(i.m.Config.Digest) }
func (i *storeImage) MediaType() (types.MediaType, error) { return i.desc.MediaType, nil }
func (i *storeImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *storeImage) Descriptor() (*v1.Descriptor, error) { d := i.desc; return &d, nil }
func (i *storeImage) Manifest() (*v1.Manifest, error)     { return i.m.DeepCopy(), nil }
func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &storeBlob{s: i.s, desc: i.m.Config}, nil
	}
	for _, l := range i.m.Layers {
		if l.Digest == h {
			return &storeBlob{s: i.s, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in image %s", h, i.desc.Digest)
}

type storeBlob struct {
	s    *Store
	desc v1.Descriptor
}

func (b *storeBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *storeBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *storeBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *storeBlob) Descriptor() (*v1.Descriptor, error) { d := b.desc; return &d, nil }
func (b *storeBlob) Compressed() (io.ReadCloser, error)  { return b.s.OpenBlob(b.desc.Digest) }
func (b *storeBlob) Exists() (bool, error)               { return b.s.HasBlob(b.desc.Digest), nil }

type storeIndex struct {
	s    *Store
	desc v1.Descriptor
	raw  []byte
	m    *v1.IndexManifest
}

func (x *storeIndex) MediaType() (types.MediaType, error)       { return x.desc.MediaType, nil }
func (x *storeIndex) Digest() (v1.Hash, error)                  { return x.desc.Digest, nil }
func (x *storeIndex) Size() (int64, error)                      { return x.desc.Size, nil }
func (x *storeIndex) IndexManifest() (*v1.IndexManifest, error) { return x.m.DeepCopy(), nil }
func (x *storeIndex) RawManifest() ([]byte, error)              { return x.raw, nil }

func (x *storeIndex) child(h v1.Hash) (v1.Descriptor, error) {
	for _, d := range x.m.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, notFoundf("%s is not in index %s", h, x.desc.Digest)
}

func (x *storeIndex) Image(h v1.Hash) (v1.Image, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return x.s.ImageByDescriptor(d)
}

func (x *storeIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return x.s.indexByDescriptor(d)
}

// WriteImage stores every blob of img (layers in parallel, skipping those
// present), then its config and manifest. It does not name the image; call
// AddImage for that.
func (s *Store) WriteImage(ctx context.Context, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(3)
	for _, l := range layers {
		g.Go(func() error {
			d, err := l.Digest()
			if err != nil {
				return err
			}
			if ok, err := s.Protect(d); err != nil || ok {
				return err
			}
			size, err := l.Size()
			if err != nil {
				return err
			}
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			defer rc.Close()
			if err := s.WriteBlob(gctx, d, size, rc); err != nil {
				return fmt.Errorf("storing layer %s: %w", d, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	if err := s.WriteBlob(ctx, cfgName, int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
		return fmt.Errorf("storing config: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	return s.WriteBlob(ctx, d, int64(len(raw)), bytes.NewReader(raw))
}

// WriteIndex stores idx and every child it can read (a sparse index keeps
// only the children its source has).
func (s *Store) WriteIndex(ctx context.Context, idx v1.ImageIndex) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err == nil {
				err = s.WriteIndex(ctx, child)
			}
			if err != nil {
				return err
			}
		case d.MediaType.IsImage():
			child, err := idx.Image(d.Digest)
			if err != nil {
				continue // absent in a sparse source
			}
			if err := s.WriteImage(ctx, child); err != nil {
				return err
			}
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	dg, err := idx.Digest()
	if err != nil {
		return err
	}
	return s.WriteBlob(ctx, dg, int64(len(raw)), bytes.NewReader(raw))
}
