package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/registry"
)

// maxConfig bounds a config blob the pages read (the registry accepts
// manifests of 4 MiB; a config is rarely over a few KiB).
const maxConfig = 8 << 20

// summary is one manifest as a tag row shows it.
type summary struct {
	Kind      string // "image", "index" or "artifact"
	Size      int64  // what a pull moves: manifest, config and layers (of every stored child for an index)
	Platforms []string
	Created   time.Time
	Err       string // why the row is incomplete (a child or config missing)
}

// summaryCache keeps summaries by repository and digest: a manifest never
// changes, and its children's presence changes only by a delete, which
// clears the entries of that repository.
type summaryCache struct {
	mu sync.Mutex
	m  map[string]summary
}

const maxSummaries = 200_000

func (c *summaryCache) get(k string) (summary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	return s, ok
}

func (c *summaryCache) put(k string, s summary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxSummaries {
		c.m = make(map[string]summary) // bounded: a cold row costs two reads
	}
	c.m[k] = s
}

func (c *summaryCache) forget(repo string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if len(k) > len(repo) && k[:len(repo)] == repo && k[len(repo)] == '@' {
			delete(c.m, k)
		}
	}
}

// summaries fills one summary per digest, several manifests at a time (an
// object store answers each read in a millisecond or more).
func (h *Handler) summaries(ctx context.Context, repo registry.Repo, digests []string) []summary {
	out := make([]summary, len(digests))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, d := range digests {
		g.Go(func() error {
			out[i] = h.summarize(gctx, repo, d, 0)
			return nil
		})
	}
	g.Wait()
	return out
}

func (h *Handler) summarize(ctx context.Context, repo registry.Repo, dg string, depth int) summary {
	key := repo.Name() + "@" + dg
	if s, ok := h.sums.get(key); ok {
		return s
	}
	s, cacheable := h.computeSummary(ctx, repo, dg, depth)
	if cacheable {
		h.sums.put(key, s)
	}
	return s
}

func (h *Handler) computeSummary(ctx context.Context, repo registry.Repo, dg string, depth int) (summary, bool) {
	raw, mi, err := h.reg.ReadManifest(ctx, repo, dg)
	if err != nil {
		return summary{Err: "manifest unreadable"}, ctx.Err() == nil && !registry.Unavailable(err)
	}
	mt := types.MediaType(mi.MediaType)
	if mt.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return summary{Kind: "index", Err: "index unparsable"}, true
		}
		s := summary{Kind: "index", Size: mi.Size}
		if depth > 0 {
			return s, true // an index of indexes: one level is what a row shows
		}
		for _, c := range idx.Manifests {
			if image.IsAttestation(c) {
				continue
			}
			cs := h.summarize(ctx, repo, c.Digest.String(), depth+1)
			if cs.Err != "" && s.Err == "" {
				s.Err = cs.Err
			}
			s.Size += cs.Size
			if p := platformOf(c.Platform); p != "" {
				s.Platforms = append(s.Platforms, p)
			} else {
				s.Platforms = append(s.Platforms, cs.Platforms...)
			}
			if cs.Created.After(s.Created) {
				s.Created = cs.Created
			}
		}
		slices.Sort(s.Platforms)
		s.Platforms = slices.Compact(s.Platforms)
		// A child that is missing now may be pushed (or fetched by a
		// pull-through cache) later: keep only complete rows.
		return s, s.Err == ""
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return summary{Kind: "artifact", Size: mi.Size, Err: "manifest unparsable"}, true
	}
	s := summary{Kind: "image", Size: mi.Size + m.Config.Size}
	for _, l := range m.Layers {
		s.Size += l.Size
	}
	if !isImageConfig(m.Config.MediaType) {
		s.Kind = "artifact"
		return s, true
	}
	cfg, err := h.config(ctx, repo.Name(), m.Config)
	if err != nil {
		s.Err = "config unreadable"
		return s, ctx.Err() == nil && !registry.Unavailable(err)
	}
	s.Platforms = []string{platformOf(cfg.Platform())}
	s.Created = cfg.Created.Time
	return s, true
}

func isImageConfig(mt types.MediaType) bool {
	return mt == types.DockerConfigJSON || mt == types.OCIConfigJSON
}

// config reads and parses an image config the repository links to.
func (h *Handler) config(ctx context.Context, repo string, d v1.Descriptor) (*v1.ConfigFile, error) {
	b, err := h.reg.ReadBlob(ctx, repo, d.Digest.String(), maxConfig)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parsing config %s: %w", d.Digest, err)
	}
	return cfg, nil
}

func platformOf(p *v1.Platform) string {
	if p == nil || p.OS == "" {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// prettyJSON indents a JSON document for reading; bytes that do not parse
// are shown as they are.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}
