package ui

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/singleflight"

	"github.com/berth-dev/berth/internal/analyze"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/registry"
)

// diveSummary is what the pages keep of an analysis: the figures and the
// largest waste, never the file trees (which are the bulk of a report).
type diveSummary struct {
	SizeBytes, UserSizeBytes, WastedBytes uint64
	Efficiency, UserWastedPercent         float64
	Layers                                []diveLayer
	Files                                 []diveFile
	MoreFiles                             int
	Hints                                 []string
	Took                                  time.Duration
}

type diveLayer struct {
	Index   int
	Size    int64
	Files   int
	Command string
}

type diveFile struct {
	Path        string
	Count       int
	Size        int64
	Reclaimable int64
}

const diveTopFiles = 20

func summarizeReport(r *analyze.Report, took time.Duration) *diveSummary {
	s := &diveSummary{SizeBytes: r.SizeBytes, UserSizeBytes: r.UserSizeBytes, WastedBytes: r.WastedBytes,
		Efficiency: r.Efficiency, UserWastedPercent: r.UserWastedPercent, Took: took}
	if math.IsNaN(s.UserWastedPercent) || math.IsInf(s.UserWastedPercent, 0) {
		s.UserWastedPercent = 0 // one layer: no user bytes to waste
	}
	for _, l := range r.Layers {
		s.Layers = append(s.Layers, diveLayer{Index: l.Index, Size: l.Size, Files: l.Files, Command: l.Command})
	}
	files := slices.Clone(r.Inefficiencies)
	slices.SortStableFunc(files, func(a, b *analyze.Inefficiency) int {
		if a.Size != b.Size {
			if a.Size > b.Size {
				return -1
			}
			return 1
		}
		if a.Path < b.Path {
			return -1
		}
		return 1
	})
	for i, f := range files {
		if i == diveTopFiles {
			s.MoreFiles = len(files) - i
			break
		}
		s.Files = append(s.Files, diveFile{Path: f.Path, Count: f.Count, Size: f.Size, Reclaimable: f.Reclaimable})
	}
	for _, hn := range r.Hints {
		s.Hints = append(s.Hints, hn.Message)
	}
	return s
}

// diveCache keeps the last max analyses by manifest digest (an image's
// content never changes under its digest) and runs one analysis per
// digest at a time however many pages ask.
type diveCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of string digests, most recent first
	m     map[string]*list.Element
	vals  map[string]*diveSummary
	group singleflight.Group
}

func newDiveCache(max int) *diveCache {
	if max <= 0 {
		max = 64
	}
	return &diveCache{max: max, order: list.New(), m: map[string]*list.Element{}, vals: map[string]*diveSummary{}}
}

func (c *diveCache) get(d string) (*diveSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[d]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return c.vals[d], true
}

func (c *diveCache) put(d string, s *diveSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[d]; ok {
		c.order.MoveToFront(e)
		c.vals[d] = s
		return
	}
	c.m[d] = c.order.PushFront(d)
	c.vals[d] = s
	for c.order.Len() > c.max {
		last := c.order.Back()
		k := last.Value.(string)
		c.order.Remove(last)
		delete(c.m, k)
		delete(c.vals, k)
	}
}

// analysisTimeout bounds one analysis; it runs detached from the page that
// asked, so a reload after giving up finds it finished or still running.
const analysisTimeout = 10 * time.Minute

func (h *Handler) analysis(ctx context.Context, repo registry.Repo, dg string) (*diveSummary, error) {
	if s, ok := h.dive.get(dg); ok {
		return s, nil
	}
	ch := h.dive.group.DoChan(dg, func() (any, error) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), analysisTimeout)
		defer cancel()
		start := time.Now()
		img, err := h.registryImage(actx, repo, dg)
		if err != nil {
			return nil, err
		}
		rep, err := analyze.Analyze(actx, img, repo.Name()+"@"+dg, "registry", analyze.Options{StoredBlobs: true, Logger: h.log})
		if err != nil {
			return nil, err
		}
		s := summarizeReport(rep, time.Since(start))
		h.dive.put(dg, s)
		return s, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*diveSummary), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type diveData struct {
	Repo, Digest string
	ManifestLink string
	Summary      *diveSummary
	Err          string
}

func (h *Handler) diveView(w http.ResponseWriter, r *http.Request, name, dg string) {
	repo, err := h.reg.Repository(r.Context(), name)
	if err != nil {
		h.failErr(w, r, "repository", err)
		return
	}
	mi, ok := repo.Manifest(dg)
	if !ok {
		h.fail(w, r, http.StatusNotFound, "There is no such manifest in this repository.")
		return
	}
	d := diveData{Repo: name, Digest: dg, ManifestLink: h.link(pathRepo + name + "/-/manifest/" + dg)}
	if types.MediaType(mi.MediaType).IsIndex() {
		h.fail(w, r, http.StatusBadRequest, "This is an index: open one of its platforms' manifests to analyze its layers.")
		return
	}
	s, err := h.analysis(r.Context(), repo, dg)
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		h.log.Warn("layer analysis failed", "repo", name, "digest", dg, "err", err)
		d.Err = "The layers could not be analyzed: " + err.Error()
		h.render(w, r, http.StatusUnprocessableEntity, "dive", d)
		return
	}
	d.Summary = s
	h.render(w, r, http.StatusOK, "dive", d)
}

// registryImage is a lazy v1.Image over the registry's own blobs: the
// manifest and config read now, each layer streamed when the analysis asks
// for it and checked against its digest and size as it is read.
func (h *Handler) registryImage(ctx context.Context, repo registry.Repo, dg string) (v1.Image, error) {
	raw, mi, err := h.reg.ReadManifest(ctx, repo, dg)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", dg, err)
	}
	cfg, err := h.reg.ReadBlob(ctx, repo.Name(), m.Config.Digest.String(), maxConfig)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&regImage{ctx: ctx, h: h, repo: repo.Name(), raw: raw, mt: types.MediaType(mi.MediaType), cfg: cfg, m: m})
}

// regImage holds the analysis' context because go-containerregistry's
// interfaces take none; it lives only as long as one analysis.
type regImage struct {
	ctx  context.Context
	h    *Handler
	repo string
	raw  []byte
	mt   types.MediaType
	cfg  []byte
	m    *v1.Manifest
}

func (i *regImage) RawConfigFile() ([]byte, error)      { return i.cfg, nil }
func (i *regImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *regImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *regImage) LayerByDigest(d v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range i.m.Layers {
		if l.Digest == d {
			return &regLayer{img: i, desc: l}, nil
		}
	}
	if i.m.Config.Digest == d {
		return &regLayer{img: i, desc: i.m.Config}, nil
	}
	return nil, fmt.Errorf("blob %s is not in manifest", d)
}

type regLayer struct {
	img  *regImage
	desc v1.Descriptor
}

func (l *regLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *regLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *regLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *regLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.img.h.reg.OpenBlob(l.img.ctx, l.img.repo, l.desc.Digest.String())
	if err != nil {
		return nil, err
	}
	return image.Verify(rc, l.desc)
}
