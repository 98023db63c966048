package store

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageUsage is one image of DiskUsage. Size is its layers' content size
// (ContentSize, as Docker counts it) (this machine's platform for an index); SharedSize the part of it in
// layers other images use too; Size - SharedSize is Docker's UNIQUE SIZE.
type ImageUsage struct {
	Summary
	Size       int64
	SharedSize int64
}

// Usage is the image part of `system df` and GET /system/df.
type Usage struct {
	Images     []ImageUsage // newest first
	LayersSize int64        // every layer counted once
}

// DiskUsage computes Docker's df figures for the images of the store.
func (s *Store) DiskUsage(ctx context.Context) (*Usage, error) {
	imgs, err := s.List(ctx, ListOptions{})
	if err != nil {
		return nil, err
	}
	users := map[v1.Hash]int{}
	layerSize := map[v1.Hash]int64{}
	layersOf := make([][]v1.Hash, len(imgs))
	for i, img := range imgs {
		vimg, err := s.Image(ctx, img.Image, nil)
		if err != nil {
			continue
		}
		m, err := vimg.Manifest()
		if err != nil {
			continue
		}
		seen := map[v1.Hash]bool{}
		for _, l := range m.Layers {
			if seen[l.Digest] {
				continue
			}
			seen[l.Digest] = true
			users[l.Digest]++
			if _, ok := layerSize[l.Digest]; !ok {
				n, err := s.ContentSize(l) // Docker's: the files' bytes
				if err != nil {
					return nil, err
				}
				layerSize[l.Digest] = n
			}
			layersOf[i] = append(layersOf[i], l.Digest)
		}
	}
	u := &Usage{Images: make([]ImageUsage, 0, len(imgs))}
	for _, n := range layerSize {
		u.LayersSize += n
	}
	for i, img := range imgs {
		iu := ImageUsage{Summary: img}
		for _, d := range layersOf[i] {
			iu.Size += layerSize[d]
			if users[d] > 1 {
				iu.SharedSize += layerSize[d]
			}
		}
		u.Images = append(u.Images, iu)
	}
	return u, nil
}

// DiffIDs returns the layer diff IDs of every image in the store (this
// machine's platform for an index), one list per image: what the build and
// scan caches keep when they prune what no image uses.
func (s *Store) DiffIDs(ctx context.Context) ([][]v1.Hash, error) {
	imgs, err := s.Images(ctx)
	if err != nil {
		return nil, err
	}
	var out [][]v1.Hash
	for _, img := range imgs {
		vimg, err := s.Image(ctx, img, nil)
		if err != nil {
			continue
		}
		cfg, err := vimg.ConfigFile()
		if err != nil {
			continue
		}
		out = append(out, cfg.RootFS.DiffIDs)
	}
	return out, nil
}
