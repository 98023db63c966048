package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Manifest reads and parses an image manifest blob.
func (s *Store) Manifest(h v1.Hash) (*v1.Manifest, error) {
	b, err := s.ReadBlob(h)
	if err != nil {
		return nil, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", h, err)
	}
	return &m, nil
}

// IndexManifest reads and parses an index blob.
func (s *Store) IndexManifest(h v1.Hash) (*v1.IndexManifest, error) {
	b, err := s.ReadBlob(h)
	if err != nil {
		return nil, err
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("index %s: %w", h, err)
	}
	return &m, nil
}

// ConfigFile reads and parses an image config blob.
func (s *Store) ConfigFile(h v1.Hash) (*v1.ConfigFile, error) {
	b, err := s.ReadBlob(h)
	if err != nil {
		return nil, err
	}
	var c v1.ConfigFile
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("config %s: %w", h, err)
	}
	return &c, nil
}

// PlatformManifest picks the child of an index for platform p (nil: this
// machine's) by image.PickManifest's rules, among the children present in
// the store when present is true.
func (s *Store) PlatformManifest(m *v1.IndexManifest, p *v1.Platform, present bool) (v1.Descriptor, error) {
	var keep func(v1.Descriptor) bool
	if present {
		keep = func(d v1.Descriptor) bool { return s.HasBlob(d.Digest) }
	}
	d, err := image.PickManifest(m, p, keep)
	if errors.Is(err, image.ErrNoPlatform) {
		want := image.HostPlatform()
		if p != nil {
			want = *p
		}
		return v1.Descriptor{}, notFoundf("no manifest for platform %s in the store", want.String())
	}
	return d, err
}

// describe builds the index record of a manifest or index from its blobs.
func (s *Store) describe(desc v1.Descriptor) (Image, error) {
	rec := Image{Digest: desc.Digest, MediaType: desc.MediaType, ManifestSize: desc.Size}
	mdesc := desc
	if desc.MediaType.IsIndex() {
		im, err := s.IndexManifest(desc.Digest)
		if err != nil {
			return rec, err
		}
		child, err := s.PlatformManifest(im, nil, true)
		if err != nil {
			// No child for this machine: describe the first present image.
			found := false
			for _, d := range im.Manifests {
				if d.MediaType.IsImage() && s.HasBlob(d.Digest) {
					child, found = d, true
					break
				}
			}
			if !found {
				return rec, fmt.Errorf("index %s has no image manifest in the store", desc.Digest)
			}
		}
		mdesc = child
	} else if !desc.MediaType.IsImage() && desc.MediaType != "" {
		return rec, fmt.Errorf("%s is a %s, not an image", desc.Digest, desc.MediaType)
	}
	m, err := s.Manifest(mdesc.Digest)
	if err != nil {
		return rec, err
	}
	rec.ID = m.Config.Digest
	cfg, err := s.ConfigFile(m.Config.Digest)
	if err != nil {
		return rec, err
	}
	rec.Created = cfg.Created.Time
	rec.Labels = cfg.Config.Labels
	// Sizes not yet known mean decompressing those layers once; do it on
	// every core rather than one layer after another.
	sizes := make([]int64, len(m.Layers))
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for i, l := range m.Layers {
		g.Go(func() error {
			n, err := s.LayerSize(l)
			sizes[i] = n
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return rec, err
	}
	for _, n := range sizes {
		rec.Size += n
	}
	return rec, nil
}

// checkComplete verifies that every blob desc needs is present: for an image
// its config and layers, for an index the children that are present (an
// index may be sparse).
func (s *Store) checkComplete(desc v1.Descriptor) error {
	return s.walk(desc, func(d v1.Descriptor, required bool) error {
		if required && !s.HasBlob(d.Digest) {
			return notFoundf("blob %s needed by %s is missing", d.Digest, desc.Digest)
		}
		return nil
	})
}

// walk calls fn for desc and every descriptor below it. required is false
// for an index's children, which may be absent.
func (s *Store) walk(desc v1.Descriptor, fn func(d v1.Descriptor, required bool) error) error {
	return s.walkDepth(desc, true, fn, 0)
}

func (s *Store) walkDepth(desc v1.Descriptor, required bool, fn func(v1.Descriptor, bool) error, depth int) error {
	if depth > 8 {
		return fmt.Errorf("index %s nests too deeply", desc.Digest)
	}
	if err := fn(desc, required); err != nil {
		return err
	}
	if !s.HasBlob(desc.Digest) {
		return nil
	}
	switch {
	case desc.MediaType.IsIndex():
		im, err := s.IndexManifest(desc.Digest)
		if err != nil {
			return err
		}
		for _, c := range im.Manifests {
			if err := s.walkDepth(c, false, fn, depth+1); err != nil {
				return err
			}
		}
	case desc.MediaType.IsImage():
		m, err := s.Manifest(desc.Digest)
		if err != nil {
			return err
		}
		if err := fn(m.Config, true); err != nil {
			return err
		}
		for _, l := range m.Layers {
			if err := fn(l, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// LayerSize returns the uncompressed size of a layer blob, computing it once
// (by decompressing) and remembering it under meta/.
func (s *Store) LayerSize(l v1.Descriptor) (int64, error) {
	switch l.MediaType {
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer, types.OCIUncompressedRestrictedLayer:
		return l.Size, nil
	}
	metaPath := s.path("meta", l.Digest.Algorithm, l.Digest.Hex)
	if b, err := os.ReadFile(metaPath); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := s.OpenBlob(l.Digest)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := uncompressedSize(f, l.Size)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	s.SetLayerSize(l.Digest, n)
	return n, nil
}

// SetLayerSize records the uncompressed size of a compressed layer blob, so
// writers that already decompressed it spare the store doing it again.
func (s *Store) SetLayerSize(h v1.Hash, n int64) {
	p := s.path("meta", h.Algorithm, h.Hex)
	os.MkdirAll(s.path("meta", h.Algorithm), 0o755)
	_ = fsutil.WriteFileAtomic(p, []byte(strconv.FormatInt(n, 10)), 0o644)
}

// uncompressedSize decompresses a compressed blob to count its bytes; a
// plain blob is its own size and is not read past its first bytes.
func uncompressedSize(r io.Reader, size int64) (int64, error) {
	zr, c, err := image.Decompress(r)
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	if c == image.Uncompressed && size >= 0 {
		return size, nil
	}
	return io.Copy(io.Discard, zr)
}
