package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type v1Layer = v1.Layer
type healthConfig = v1.HealthConfig

// execRun runs req and turns the executor's change set into a layer: the
// tar is re-written entry by entry (normalised headers, clamped times) so
// the layer is reproducible whatever the executor's tar writer did.
func (b *Builder) execRun(ctx context.Context, st *stageState, req RunRequest) (*Layer, error) {
	lw, err := b.newLayerWriter(ctx)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		copied <- retar(pr, lw)
		pr.CloseWithError(errors.New("layer reader stopped"))
	}()
	runErr := b.opts.Exec.Run(ctx, req, pw)
	pw.CloseWithError(runErr)
	cerr := <-copied
	if runErr != nil {
		lw.Abort(runErr)
		var ee *ExitError
		if errors.As(runErr, &ee) {
			// Wrapped, not just printed: the Engine API reports the
			// command's exit code as the build's (errorDetail.code).
			return nil, fmt.Errorf("process %q did not complete successfully: %w", strings.Join(req.Args, " "), ee)
		}
		return nil, runErr
	}
	if cerr != nil {
		lw.Abort(cerr)
		return nil, fmt.Errorf("reading the RUN layer: %w", cerr)
	}
	l, ok, err := lw.Close()
	if err != nil || !ok {
		return nil, err
	}
	return &l, nil
}

func retar(r io.Reader, lw *layerWriter) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			// Drain the end-of-archive padding so the writer never blocks.
			_, _ = io.Copy(io.Discard, r)
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := fsutil.CleanTarName(h.Name); err != nil {
			return err
		}
		if err := lw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(lw, tr); err != nil {
				return err
			}
		}
	}
}

// fromLayers returns the layers a --from names: a stage (name or index)
// or an image.
// Only stages before cur count (as in the plan, which started them); any
// other name is an image.
func (b *Builder) fromLayers(ctx context.Context, from string, cur int) ([]Layer, error) {
	if j, ok := b.plan.stageRef(from, b.stageNames(), cur); ok {
		st, err := b.waitStage(ctx, j)
		if err != nil {
			return nil, err
		}
		return st.layers, nil
	}
	if nc, ok := b.opts.NamedContexts[strings.ToLower(from)]; ok && nc.Image != "" {
		from = nc.Image
	}
	img, err := b.opts.Source.Image(ctx, from, b.opts.Platform, b.opts.Pull)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", from, err)
	}
	if err := b.checkPlatform(from, cfg, b.opts.Platform, false); err != nil {
		return nil, err
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var out []Layer
	for _, l := range ls {
		var ll Layer
		ll.Digest, _ = l.Digest()
		ll.DiffID, _ = l.DiffID()
		ll.Size, _ = l.Size()
		ll.MediaType, _ = l.MediaType()
		b.baseLayers.Store(ll.Digest, l)
		out = append(out, ll)
	}
	return out, nil
}

// namedDir is the directory build context from names, unless a stage of
// that name comes first.
func (b *Builder) namedDir(from string, cur int) (*contextFS, bool) {
	if from == "" {
		return nil, false
	}
	if _, ok := b.plan.stageRef(from, b.stageNames(), cur); ok {
		return nil, false
	}
	fs, ok := b.named[strings.ToLower(from)]
	return fs, ok
}

func (b *Builder) stageNames() map[string]int {
	m := map[string]int{}
	for _, s := range b.plan.Stages {
		if s.Name != "" {
			m[s.Name] = s.Index
		}
	}
	return m
}
