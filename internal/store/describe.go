package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// Resolved is an image record's content as a writer that has just stored
// it knows it: what the names point at, the image manifest chosen from it
// (for an index, by the writer's platform choice) and that manifest parsed,
// so that recording it reads and chooses nothing again.
type Resolved struct {
	Desc     v1.Descriptor // an index or an image manifest
	Image    v1.Descriptor // the image manifest (Desc itself when it is one)
	Manifest *v1.Manifest  // Image's manifest
}

// resolve finds the image manifest an index or manifest record describes:
// for an index, the child for this machine among those present, else the
// first image present.
func (s *Store) resolve(desc v1.Descriptor) (Resolved, error) {
	r := Resolved{Desc: desc, Image: desc}
	if desc.MediaType.IsIndex() {
		im, err := s.IndexManifest(desc.Digest)
		if err != nil {
			return r, err
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
				return r, fmt.Errorf("index %s has no image manifest in the store", desc.Digest)
			}
		}
		r.Image = child
	} else if !desc.MediaType.IsImage() && desc.MediaType != "" {
		return r, fmt.Errorf("%s is a %s, not an image", desc.Digest, desc.MediaType)
	}
	m, err := s.Manifest(r.Image.Digest)
	if err != nil {
		return r, err
	}
	r.Manifest = m
	return r, nil
}

// describe builds the index record of a manifest or index from its blobs.
func (s *Store) describe(desc v1.Descriptor) (Image, error) {
	r, err := s.resolve(desc)
	if err != nil {
		return Image{Digest: desc.Digest, MediaType: desc.MediaType, ManifestSize: desc.Size}, err
	}
	return s.describeResolved(r)
}

// describeResolved builds the record from the chosen manifest: its config
// and its layers' uncompressed sizes (which a pull has recorded already).
func (s *Store) describeResolved(r Resolved) (Image, error) {
	rec := Image{Digest: r.Desc.Digest, MediaType: r.Desc.MediaType, ManifestSize: r.Desc.Size}
	m := r.Manifest
	rec.ID = m.Config.Digest
	cfg, err := s.ConfigFile(m.Config.Digest)
	if err != nil {
		return rec, err
	}
	rec.Created = cfg.Created.Time
	rec.Labels = cfg.Config.Labels
	// Sizes not yet known may mean decompressing those layers once; do it
	// on every core rather than one layer after another.
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
	// A layer already known not to be what the config says (one counted
	// while it was stored) keeps the image out of the index.
	for i, l := range m.Layers {
		if i >= len(cfg.RootFS.DiffIDs) {
			break
		}
		if f, ok := s.layerFacts(l.Digest); ok && f.DiffID != (v1.Hash{}) && f.DiffID != cfg.RootFS.DiffIDs[i] {
			return rec, &LayerMismatchError{Layer: l.Digest, DiffID: cfg.RootFS.DiffIDs[i], Got: f.DiffID, Fix: storeFix}
		}
	}
	return rec, nil
}

// fixSizes recomputes the size of every record whose image has layer h,
// after the layer's size turned out not to be what its trailer claimed.
func (s *Store) fixSizes(ctx context.Context, h v1.Hash) {
	_ = s.update(ctx, func(x *index) error {
		for _, img := range x.images {
			r, err := s.resolve(img.Descriptor())
			if err != nil || !slices.ContainsFunc(r.Manifest.Layers, func(l v1.Descriptor) bool { return l.Digest == h }) {
				continue
			}
			if rec, err := s.describeResolved(r); err == nil || errors.Is(err, ErrLayerMismatch) {
				img.Size = rec.Size
			}
		}
		return nil
	})
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

// checkResolved verifies that every blob a resolved record needs is
// present: the index (when it is one), the chosen manifest, its config and
// its layers. Other children of an index may be absent.
func (s *Store) checkResolved(r Resolved) error {
	need := append([]v1.Descriptor{r.Desc, r.Image, r.Manifest.Config}, r.Manifest.Layers...)
	for _, d := range need {
		if !s.HasBlob(d.Digest) {
			return notFoundf("blob %s needed by %s is missing", d.Digest, r.Desc.Digest)
		}
	}
	return nil
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
