package analyze

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Options tune an analysis; the zero value means the defaults.
type Options struct {
	Limits Limits
	// Parallel is how many layers are read at once (default GOMAXPROCS).
	Parallel int
	// StoredBlobs says the layers' Compressed() streams are the stored blobs
	// (registry, OCI layout, local store): the analysis then decompresses
	// them itself, gzip or zstd sniffed from the first bytes. Otherwise it
	// reads Uncompressed(), which is right for docker-archive tarballs whose
	// layers may already be plain tars.
	StoredBlobs bool
	// Verified says the layers' Uncompressed() streams check the content
	// against the config's diff IDs (the local store's do): the analysis
	// reads those even with StoredBlobs, so that a layer that is not what
	// its image says is refused.
	Verified bool
	Logger   *slog.Logger
	// Progress, when set, is called (from any goroutine) each time a layer
	// has been read.
	Progress func(done, total int)
}

// Report is the whole analysis of one image.
type Report struct {
	Image  string   `json:"image"`
	Source string   `json:"source"`
	Layers []*Layer `json:"layers"`

	SizeBytes         uint64  `json:"sizeBytes"`
	UserSizeBytes     uint64  `json:"userSizeBytes"`
	WastedBytes       uint64  `json:"wastedBytes"`
	Efficiency        float64 `json:"efficiencyScore"`
	UserWastedPercent float64 `json:"userWastedPercent"`

	Inefficiencies []*Inefficiency `json:"inefficientFiles"`
	Hints          []Hint          `json:"hints"`
}

// Analyze reads every layer of img once — several at a time — and computes
// the report. name and source only label it.
func Analyze(ctx context.Context, img v1.Image, name, source string, opts Options) (*Report, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	var digests []v1.Hash
	if opts.StoredBlobs {
		if m, err := img.Manifest(); err == nil && len(m.Layers) == len(layers) {
			for _, d := range m.Layers {
				digests = append(digests, d.Digest)
			}
		}
	}

	out := make([]*Layer, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	par := opts.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	g.SetLimit(par)
	var done atomic.Int32
	for i, layer := range layers {
		g.Go(func() error {
			l, err := readOne(gctx, layer, opts)
			if err != nil {
				return fmt.Errorf("analyzing layer %d: %w", i+1, err)
			}
			l.Index = i
			out[i] = l
			if opts.Progress != nil {
				opts.Progress(int(done.Add(1)), len(layers))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, l := range out {
		if i < len(cfg.RootFS.DiffIDs) {
			l.DiffID = cfg.RootFS.DiffIDs[i].String()
		}
		if i < len(digests) {
			l.Digest = digests[i].String()
		}
	}
	attachHistory(out, cfg.History)
	log.Debug("layers read", "layers", len(out), "dur", time.Since(start))

	r := Build(name, source, out)
	log.Debug("analysis done", "dur", time.Since(start))
	return r, nil
}

// Build computes the report over layers already read (with their history
// attached): dive's figures, the inefficient files and the hints.
func Build(name, source string, layers []*Layer) *Report {
	r := &Report{Image: name, Source: source, Layers: layers}
	// The final filesystem (for the hints) and dive's figures read the
	// layer trees without changing them: build both at once.
	var final finalView
	done := make(chan struct{})
	go func() {
		defer close(done)
		final = buildFinal(layers)
	}()
	r.Efficiency, r.Inefficiencies = efficiency(layers)
	<-done
	for i, l := range layers {
		r.SizeBytes += uint64(l.Size)
		if i != 0 {
			r.UserSizeBytes += uint64(l.Size)
		}
	}
	for _, in := range r.Inefficiencies {
		r.WastedBytes += uint64(in.Size)
	}
	// A division by zero gives NaN or +Inf, as in dive: an image of one layer
	// has no user bytes.
	r.UserWastedPercent = float64(r.WastedBytes) / float64(r.UserSizeBytes)
	r.Hints = findHints(r, final)
	return r
}

// attachHistory pairs layers with the history entries that made them,
// skipping empty_layer entries, as dive does; layers past the history get
// "(missing)".
func attachHistory(layers []*Layer, hist []v1.History) {
	h := 0
	for _, l := range layers {
		for h < len(hist) && hist[h].EmptyLayer {
			h++
		}
		l.CreatedBy = "(missing)"
		if h < len(hist) {
			l.CreatedBy = hist[h].CreatedBy
			h++
		}
		l.Command = strings.TrimPrefix(l.CreatedBy, "/bin/sh -c ")
	}
}

func readOne(ctx context.Context, layer v1.Layer, opts Options) (_ *Layer, err error) {
	compressed := opts.StoredBlobs && !opts.Verified
	var rc io.ReadCloser
	if compressed {
		rc, err = layer.Compressed()
	} else {
		rc, err = layer.Uncompressed()
	}
	if err != nil {
		return nil, fmt.Errorf("opening layer: %w", err)
	}
	defer func() {
		// A verifying stream reports a mismatch on Close too.
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	// Buffered: a layer of small files is mostly 512-byte tar headers, and
	// reading them one syscall at a time costs more than the hashing.
	raw := bufio.NewReaderSize(rc, 256<<10)
	var r io.Reader = raw
	if compressed {
		dr, _, err := image.Decompress(r)
		if err != nil {
			return nil, fmt.Errorf("opening layer: %w", err)
		}
		defer dr.Close()
		r = dr
	}
	l, err := ReadLayer(ctx, r, opts.Limits)
	if err != nil {
		return nil, err
	}
	// Read the stream to its end (the tar's trailing blocks, the gzip
	// trailer) so that sources that verify digests as they stream see every
	// byte.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("reading layer blob: %w", err)
	}
	if compressed {
		if _, err := io.Copy(io.Discard, raw); err != nil {
			return nil, fmt.Errorf("reading layer blob: %w", err)
		}
	}
	return l, nil
}
