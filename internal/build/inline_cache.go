package build

import (
	"context"
	"encoding/json"
	"fmt"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// inlineCacheKey is the image label that carries berth's inline cache:
// each step's cache key and the layer it made. BuildKit keeps its own in
// the image config too (moby.buildkit.cache.v0); the keys are berth's, so
// the label is berth's.
const inlineCacheKey = "dev.berth.cache.v1"

// maxInlineCache bounds the label read from an image someone else built.
const maxInlineCache = 1 << 20

// cacheStep is one step of a stage: its key and what it produced.
type cacheStep struct {
	Key   string     `json:"k"`
	Entry cacheEntry `json:"e"`
}

// parseInlineCache reads the inline cache label of an image someone else
// built. Only entries that can be right are kept: a 64-hex key, and a layer
// that is one of the image's own (own maps its digests to the config's
// diff IDs) with that diff ID, a size and a layer media type; any other
// entry is dropped, so a label cannot point a cache hit at a blob the
// image does not hold or give it the wrong content digest.
func parseInlineCache(label string, own map[v1.Hash]v1.Hash) (map[string]cacheEntry, error) {
	if len(label) > maxInlineCache {
		return nil, fmt.Errorf("the label is larger than %d bytes", maxInlineCache)
	}
	var steps []cacheStep
	if err := json.Unmarshal([]byte(label), &steps); err != nil {
		return nil, err
	}
	out := map[string]cacheEntry{}
	for _, s := range steps {
		if !isHex64(s.Key) {
			continue
		}
		if l := s.Entry.Layer; l != nil {
			diff, ok := own[l.Digest]
			if !ok || l.DiffID != diff || l.Size < 0 || !l.MediaType.IsLayer() {
				continue
			}
		}
		out[s.Key] = s.Entry
	}
	return out, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func inlineCacheLabel(steps []cacheStep) (string, error) {
	data, err := json.Marshal(steps)
	if err != nil {
		return "", fmt.Errorf("writing the inline cache: %w", err)
	}
	return string(data), nil
}

// loadCacheFrom reads the inline cache of each --cache-from image (pulled
// when the store lacks it, as the image source does for FROM). An image
// without one, or that cannot be had, is skipped with a warning: a cache
// source only ever saves work.
func (b *Builder) loadCacheFrom(ctx context.Context) error {
	b.cacheFrom = map[string]cacheEntry{}
	for _, ref := range b.opts.CacheFrom {
		img, err := b.opts.Source.Image(ctx, ref, b.opts.Platform, false)
		if err != nil {
			fmt.Fprintf(b.prog.w, "[WARNING]: --cache-from %s: %v\n", ref, err)
			continue
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			fmt.Fprintf(b.prog.w, "[WARNING]: --cache-from %s: %v\n", ref, err)
			continue
		}
		label := cfg.Config.Labels[inlineCacheKey]
		if label == "" {
			fmt.Fprintf(b.prog.w, "[WARNING]: --cache-from %s: the image has no berth inline cache (build it with --cache-to type=inline)\n", ref)
			continue
		}
		// The layers are the image's own: pin them, so that a cache hit
		// finds its blob (lookupCacheFrom checks the store).
		ls, _ := img.Layers()
		own := map[v1.Hash]v1.Hash{}
		for i, l := range ls {
			if d, err := l.Digest(); err == nil && i < len(cfg.RootFS.DiffIDs) {
				b.baseLayers.Store(d, l)
				own[d] = cfg.RootFS.DiffIDs[i]
			}
		}
		entries, err := parseInlineCache(label, own)
		if err != nil {
			fmt.Fprintf(b.prog.w, "[WARNING]: --cache-from %s: unreadable inline cache: %v\n", ref, err)
			continue
		}
		for k, e := range entries {
			b.cacheFrom[k] = e
		}
	}
	return nil
}

// lookupCacheFrom answers a step from the --cache-from images, when one of
// them recorded it and its layer is in the store.
func (b *Builder) lookupCacheFrom(key string) (*cacheEntry, bool) {
	e, ok := b.cacheFrom[key]
	if !ok {
		return nil, false
	}
	if e.Layer != nil && !b.opts.Blobs.HasBlob(e.Layer.Digest) {
		return nil, false
	}
	if err := b.storeCache(key, &e); err != nil {
		b.opts.Log.Debug("storing cache entry", "err", err)
	}
	return &e, true
}
