package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/untrusted"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Docker's v1 archive format (Docker before 1.10, and `docker save` of
// engines that still read it): no manifest.json, one directory per layer
// holding its json (the image as of that layer, with its parent's id),
// layer.tar and VERSION, and a repositories file mapping names and tags to
// layer ids. Each layer is an image; Docker's loader gives each a config
// made from its json (image.LegacyConfig).

// hasLegacyLayers reports whether the archive holds v1 layer jsons.
func (l *loader) hasLegacyLayers() bool {
	for name := range l.meta {
		if isLegacyV1File(name) && path.Base(name) == "json" {
			return true
		}
	}
	return false
}

// legacyImage is a layer of a v1 archive resolved into an image.
type legacyImage struct {
	chain   []image.LegacyLayer // base first
	layers  []v1.Descriptor
	diffIDs []v1.Hash
}

// fromLegacy loads a v1 archive: the images its repositories file names,
// tagged, and the top layers nothing else builds on, untagged. Docker
// also keeps every layer below as an intermediate image; berth keeps no
// intermediate images, and `docker images` does not list them either.
func (l *loader) fromLegacy(ctx context.Context) ([]Loaded, error) {
	byID := map[string]image.LegacyLayer{}
	for name, b := range l.meta {
		if !isLegacyV1File(name) || path.Base(name) != "json" {
			continue
		}
		ll, err := image.ParseLegacyLayer(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", untrusted.Quote(name), err)
		}
		// Docker knows a layer by its directory; the id inside is not read.
		ll.ID = path.Dir(name)
		byID[ll.ID] = ll
	}
	var repos map[string]map[string]string
	if b, ok := l.meta[repositoriesFile]; ok {
		if err := json.Unmarshal(b, &repos); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", repositoriesFile, err)
		}
	}
	names := map[string][]string{} // layer id → names
	for repo, tags := range repos {
		for tag, id := range tags {
			if _, ok := byID[id]; !ok {
				return nil, fmt.Errorf("%s names %s:%s as layer %s, which the archive does not hold", repositoriesFile, untrusted.Quote(repo), untrusted.Quote(tag), untrusted.Quote(id))
			}
			names[id] = append(names[id], l.normalize(repo+":"+tag, v1.Hash{})...)
		}
	}
	parents := map[string]bool{}
	for _, ll := range byID {
		parents[ll.Parent] = true
	}
	var tops []string
	for id := range byID {
		if _, named := names[id]; named || !parents[id] {
			tops = append(tops, id)
		}
	}
	sort.Strings(tops)
	resolved := map[string]legacyImage{}
	var out []Loaded
	for _, id := range tops {
		img, err := l.legacyResolve(ctx, id, byID, resolved)
		if err != nil {
			return nil, err
		}
		ld, err := l.legacyStore(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", untrusted.Quote(id), err)
		}
		sort.Strings(names[id])
		ld.Names = names[id]
		out = append(out, ld)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: its legacy layers form no image", ErrNotArchive)
	}
	return out, nil
}

// legacyResolve returns the layer stack of id, hashing each layer once
// (resolved memoises the stacks of the layers below).
func (l *loader) legacyResolve(ctx context.Context, id string, byID map[string]image.LegacyLayer, resolved map[string]legacyImage) (legacyImage, error) {
	// Walk down to a resolved layer or the base, then back up.
	var walk []string
	for cur := id; cur != ""; {
		if _, ok := resolved[cur]; ok {
			break
		}
		if len(walk) > len(byID) {
			return legacyImage{}, fmt.Errorf("legacy layer %s is its own ancestor", untrusted.Quote(id))
		}
		ll, ok := byID[cur]
		if !ok {
			return legacyImage{}, fmt.Errorf("legacy layer %s names parent %s, which the archive does not hold", untrusted.Quote(walk[len(walk)-1]), untrusted.Quote(cur))
		}
		walk = append(walk, cur)
		cur = ll.Parent
	}
	for i := len(walk) - 1; i >= 0; i-- {
		ll := byID[walk[i]]
		var below legacyImage
		if ll.Parent != "" {
			below = resolved[ll.Parent]
		}
		p := ll.ID + "/" + legacyLayerFile
		f, _, err := l.lookup(p)
		if err != nil {
			return legacyImage{}, err
		}
		d, mt, err := l.diffID(ctx, p, f)
		if err != nil {
			return legacyImage{}, err
		}
		resolved[ll.ID] = legacyImage{
			chain:   append(append([]image.LegacyLayer{}, below.chain...), ll),
			layers:  append(append([]v1.Descriptor{}, below.layers...), v1.Descriptor{MediaType: mt, Size: f.size, Digest: f.digest}),
			diffIDs: append(append([]v1.Hash{}, below.diffIDs...), d),
		}
	}
	return resolved[id], nil
}

// legacyStore writes the config and manifest of a resolved legacy image.
func (l *loader) legacyStore(ctx context.Context, img legacyImage) (Loaded, error) {
	cfg, err := image.LegacyConfig(img.chain, img.diffIDs)
	if err != nil {
		return Loaded{}, err
	}
	cd, cn, err := l.sink.Put(ctx, v1.Hash{}, int64(len(cfg)), bytes.NewReader(cfg))
	if err != nil {
		return Loaded{}, fmt.Errorf("storing config: %w", err)
	}
	m, err := image.MarshalManifest(v1.Descriptor{MediaType: types.OCIConfigJSON, Size: cn, Digest: cd}, img.layers, nil)
	if err != nil {
		return Loaded{}, fmt.Errorf("encoding manifest: %w", err)
	}
	d, n, err := l.sink.Put(ctx, m.Descriptor.Digest, m.Descriptor.Size, bytes.NewReader(m.Bytes))
	if err != nil {
		return Loaded{}, fmt.Errorf("storing manifest: %w", err)
	}
	return Loaded{Descriptor: v1.Descriptor{MediaType: m.Descriptor.MediaType, Size: n, Digest: d}}, nil
}
