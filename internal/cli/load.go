package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

type loadOptions struct {
	input    string
	quiet    bool
	platform string
}

// newLoadCmd is `berth load` and `berth image load`.
func (a *app) newLoadCmd() *cobra.Command {
	var o loadOptions
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Long: "Load an image from a tar archive or STDIN.\n\n" +
			"Reads the archives of docker save (every version), podman save and skopeo\n" +
			"(docker-archive: and oci-archive:) and OCI image layouts, plain or compressed\n" +
			"with gzip, zstd, bzip2 or xz; -i also takes an OCI image layout directory.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runLoad(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the load output")
	f.StringVar(&o.platform, "platform", "", "Load only this platform of a multi-platform image (os[/arch[/variant]])")
	return cmd
}

func (a *app) runLoad(ctx context.Context, o loadOptions) error {
	platform, err := parsePlatformFlag(o.platform)
	if err != nil {
		return err
	}
	var r io.Reader = a.stdin
	source, dir := "stdin", ""
	if o.input != "" {
		f, err := os.Open(o.input)
		if err != nil {
			return fmt.Errorf("opening archive: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			dir = o.input // an OCI image layout (or an unpacked archive)
		}
		r, source = f, o.input
	} else if isTerminal(a.stdin) {
		return withHint(errors.New("requested load from stdin, but stdin is empty"),
			"use -i FILE or redirect an archive to berth load")
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	if !o.quiet && isTerminal(a.stderr) {
		r = newProgressReader(ctx, r, a.stderr)
	}
	err = loadArchive(ctx, st, r, loadArchiveOptions{Dir: dir, Source: source, Platform: platform, Log: a.logger()},
		func(line string) { fmt.Fprintln(a.stdout, line) })
	if p, ok := r.(*progressReader); ok {
		p.done()
	}
	if errors.Is(err, archive.ErrNotArchive) {
		return withHint(err, "berth load reads the archives of docker save, podman save and skopeo")
	}
	return err
}

// loadArchiveOptions are the options of loadArchive.
type loadArchiveOptions struct {
	Dir      string       // an OCI layout (or unpacked archive) directory instead of the stream
	Source   string       // names the input in errors ("stdin", the file)
	Platform *v1.Platform // keep only this platform of each image
	Log      *slog.Logger
}

// loadArchive is `load` and POST /images/load, wired: archive reads the
// archive (or o.Dir) into the store's blobs, the store names its images and
// reports Docker's lines to emit. On failure the store ends as it was: st is
// abandoned (closed, the failed load's blobs collected), so st must not be
// used afterwards.
func loadArchive(ctx context.Context, st *store.Store, r io.Reader, o loadArchiveOptions, emit func(string)) error {
	sink, opts := archive.StoreSink(archiveBlobs{st}), archive.LoadOptions{Logger: o.Log}
	var loaded []archive.Loaded
	var err error
	if o.Dir != "" {
		loaded, err = archive.LoadDir(ctx, o.Dir, sink, opts)
	} else {
		loaded, err = archive.Load(ctx, r, sink, opts)
	}
	if err == nil {
		imgs := make([]store.Loaded, len(loaded))
		for i, l := range loaded {
			imgs[i] = store.Loaded(l)
		}
		err = st.RecordLoaded(ctx, imgs, o.Platform, emit)
	}
	if err != nil {
		st.Abandon(ctx, o.Log)
		return fmt.Errorf("loading %s: %w", o.Source, err)
	}
	return nil
}

// progressReader shows how much of the archive has been read, on a terminal
// only (the quiet flag turns it off), like docker load's progress line.
type progressReader struct {
	r    io.Reader
	n    atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

func newProgressReader(ctx context.Context, r io.Reader, w io.Writer) *progressReader {
	p := &progressReader{r: r, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.stop:
				fmt.Fprintf(w, "\rLoading layer data %s\n", progressBytes(p.n.Load()))
				return
			case <-t.C:
				fmt.Fprintf(w, "\rLoading layer data %s", progressBytes(p.n.Load()))
			}
		}
	}()
	return p
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	return n, err
}

func (p *progressReader) done() {
	close(p.stop)
	p.wg.Wait()
}

func progressBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f, units := float64(n), "kMGTPE"
	i := -1
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.3g%cB", f, units[i])
}

// archiveBlobs gives the local store the archive.BlobStore shape.
type archiveBlobs struct{ *store.Store }

func (b archiveBlobs) NewBlob() (archive.BlobWriter, error) {
	w, err := b.NewBlobWriter()
	if err != nil {
		return nil, err
	}
	return w, nil
}
