package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Layer is one image layer as the scanner needs it. Open is only called
// when the layer's inventory is not cached.
type Layer struct {
	DiffID    v1.Hash
	CreatedBy string
	Open      func() (io.ReadCloser, error) // the uncompressed tar stream
}

// Options configure an inventory run; the zero value scans without a cache
// and without logging.
type Options struct {
	Cache   *Cache
	Log     *slog.Logger
	TempDir string // where files too large for memory are spooled; default os.TempDir()
}

// Inventory is what a scan found.
type Inventory struct {
	Packages []Package  `json:"packages"`
	OS       string     `json:"os,omitempty"` // PRETTY_NAME of the final image's os-release
	Layers   []LayerRef `json:"layers"`
	Warnings []string   `json:"warnings,omitempty"`
	Cached   int        `json:"-"` // layers whose inventory came from the cache
}

// LayersFromImage describes img's layers with their created_by history.
func LayersFromImage(img v1.Image) ([]Layer, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading image layers: %w", err)
	}
	var createdBy []string
	for _, h := range cf.History {
		if !h.EmptyLayer {
			createdBy = append(createdBy, h.CreatedBy)
		}
	}
	out := make([]Layer, len(layers))
	for i, l := range layers {
		var diff v1.Hash
		if i < len(cf.RootFS.DiffIDs) {
			diff = cf.RootFS.DiffIDs[i]
		} else if diff, err = l.DiffID(); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		out[i] = Layer{DiffID: diff, Open: l.Uncompressed}
		if len(createdBy) == len(layers) {
			out[i].CreatedBy = createdBy[i]
		}
	}
	return out, nil
}

// ImageInventory inventories an image layer by layer.
func ImageInventory(ctx context.Context, layers []Layer, opts Options) (*Inventory, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exs, err := newExtractors()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "berth-scan-")
	if err != nil {
		return nil, fmt.Errorf("creating scan temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	inv := &Inventory{}
	exKey := extractorsKey(exs)
	recs := make([]*layerRecord, len(layers))
	keys := make([]string, len(layers))
	chain := ""
	for i, l := range layers {
		chain = chainID(chain, l.DiffID.String())
		inv.Layers = append(inv.Layers, LayerRef{Index: i, DiffID: l.DiffID.String(), CreatedBy: l.CreatedBy})
		keys[i] = "v1 " + exKey + " " + chain
		if rec, ok := opts.Cache.get(keys[i]); ok {
			recs[i] = rec
			inv.Cached++
			log.Debug("layer inventory from cache", "digest", l.DiffID.String())
		}
	}

	// Uncached layers are read concurrently (decompression dominates);
	// extraction then runs bottom-up, since a layer's packages take their
	// distribution release from the layers below it.
	pending := make([]*layerScanner, len(layers))
	defer func() {
		for _, s := range pending {
			if s != nil {
				s.release()
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, l := range layers {
		if recs[i] != nil {
			continue
		}
		g.Go(func() error {
			rc, err := l.Open()
			if err != nil {
				return fmt.Errorf("reading layer %s: %w", l.DiffID, err)
			}
			llog := log.With("digest", l.DiffID.String())
			s, err := readLayer(gctx, tarWalk(rc, func(msg string, args ...any) { llog.Warn(msg, args...) }), exs, llog, tmp)
			if err == nil {
				// The tar reader stops at the archive's end marker: read to
				// the stream's end, so that a source checking the layer's
				// diff ID as it streams gives its verdict (on EOF or Close).
				_, err = io.Copy(io.Discard, rc)
			}
			if cerr := rc.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				if s != nil {
					s.release()
				}
				return fmt.Errorf("scanning layer %s: %w", l.DiffID, err)
			}
			pending[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	view := newMemFS()
	for i, l := range layers {
		if recs[i] == nil {
			rec, err := pending[i].extractAll(ctx, view)
			pending[i] = nil
			if err != nil {
				return nil, fmt.Errorf("scanning layer %s: %w", l.DiffID, err)
			}
			if err := opts.Cache.put(keys[i], rec); err != nil {
				log.Warn("could not cache layer inventory", "digest", l.DiffID.String(), "err", err)
			}
			recs[i] = rec
		}
		applyRecord(view, recs[i])
	}
	return finish(inv, recs, view)
}

// DirInventory inventories a root filesystem directory as one layer.
func DirInventory(ctx context.Context, root string, opts Options) (*Inventory, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("scanning %s: not a directory", root)
	}
	exs, err := newExtractors()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "berth-scan-")
	if err != nil {
		return nil, fmt.Errorf("creating scan temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	rec, err := scanLayer(ctx, dirWalk(ctx, root), newMemFS(), exs, log, tmp)
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	}
	view := newMemFS()
	applyRecord(view, rec)
	inv := &Inventory{Layers: []LayerRef{{Index: 0}}}
	return finish(inv, []*layerRecord{rec}, view)
}

func chainID(parent, diffID string) string {
	if parent == "" {
		return diffID
	}
	h := sha256.Sum256([]byte(parent + " " + diffID))
	return "sha256:" + hex.EncodeToString(h[:])
}

// finish merges the layers: for each file an extractor read, the topmost
// layer holding it (unless a later layer deleted it) gives its packages, and
// each package is attributed to the lowest layer from which that file has
// listed it without interruption.
func finish(inv *Inventory, recs []*layerRecord, view *memFS) (*Inventory, error) {
	type pkgKey struct{ name, version, ex string }
	top := map[string]int{} // path -> topmost layer holding it
	for i, rec := range recs {
		for _, w := range rec.Whiteouts {
			deleteUnder(top, w, false)
		}
		for _, d := range rec.Opaque {
			deleteUnder(top, d, true)
		}
		for _, p := range rec.Paths {
			top[p] = i
		}
		inv.Warnings = append(inv.Warnings, rec.Warnings...)
	}
	// presence[path][layer] = keys of the packages that layer's copy listed
	byPathLayer := map[string]map[int]map[pkgKey]bool{}
	for i, rec := range recs {
		for _, cp := range rec.Packages {
			m := byPathLayer[cp.Path]
			if m == nil {
				m = map[int]map[pkgKey]bool{}
				byPathLayer[cp.Path] = m
			}
			if m[i] == nil {
				m[i] = map[pkgKey]bool{}
			}
			m[i][pkgKey{cp.Name, cp.Version, cp.Extractor}] = true
		}
	}
	// holds[path] = layers whose Paths include it, ascending
	holds := map[string][]int{}
	for i, rec := range recs {
		for _, p := range rec.Paths {
			holds[p] = append(holds[p], i)
		}
	}
	for p, t := range top {
		rec := recs[t]
		for _, cp := range rec.Packages {
			if cp.Path != p {
				continue
			}
			k := pkgKey{cp.Name, cp.Version, cp.Extractor}
			origin := t
			hs := holds[p]
			for j := len(hs) - 1; j >= 0; j-- {
				l := hs[j]
				if l >= t {
					continue
				}
				if deletedBetween(recs, p, l, origin) || !byPathLayer[p][l][k] {
					break
				}
				origin = l
			}
			pkg, err := newPackage(cp, inv.Layers[origin])
			if err != nil {
				inv.Warnings = append(inv.Warnings, err.Error())
				continue
			}
			inv.Packages = append(inv.Packages, pkg)
		}
	}
	sort.SliceStable(inv.Packages, func(i, j int) bool {
		a, b := inv.Packages[i], inv.Packages[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Extractor < b.Extractor
	})
	if f, err := view.Open("etc/os-release"); err == nil {
		data, _ := io.ReadAll(io.LimitReader(f, maxContextSize))
		f.Close()
		inv.OS = osPrettyName(string(data))
	} else if f, err := view.Open("usr/lib/os-release"); err == nil {
		data, _ := io.ReadAll(io.LimitReader(f, maxContextSize))
		f.Close()
		inv.OS = osPrettyName(string(data))
	}
	return inv, nil
}

func deleteUnder(top map[string]int, p string, keepSelf bool) {
	for k := range top {
		if (!keepSelf && k == p) || strings.HasPrefix(k, p+"/") || p == "." {
			delete(top, k)
		}
	}
}

// deletedBetween reports whether a layer in (lo, hi] deleted p.
func deletedBetween(recs []*layerRecord, p string, lo, hi int) bool {
	for i := lo + 1; i <= hi; i++ {
		for _, w := range recs[i].Whiteouts {
			if w == p || strings.HasPrefix(p, w+"/") {
				return true
			}
		}
		for _, d := range recs[i].Opaque {
			if strings.HasPrefix(p, d+"/") {
				return true
			}
		}
	}
	return false
}

func osPrettyName(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}
