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
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
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

// loadArchive is `load` and POST /images/load: it reads an archive (or
// o.Dir), stores its blobs, records its images and reports Docker's lines
// ("Loaded image: NAME", "Loaded image ID: ID", the renaming notice) to
// emit. On failure the store ends as it was: st is closed and the failed
// load's blobs are collected, so st must not be used afterwards.
func loadArchive(ctx context.Context, st *store.Store, r io.Reader, o loadArchiveOptions, emit func(string)) error {
	sink, opts := archive.StoreSink(archiveBlobs{st}), archive.LoadOptions{Logger: o.Log}
	var loaded []archive.Loaded
	var err error
	if o.Dir != "" {
		loaded, err = archive.LoadDir(ctx, o.Dir, sink, opts)
	} else {
		loaded, err = archive.Load(ctx, r, sink, opts)
	}
	if err != nil {
		discardFailedLoad(ctx, st, o.Log)
		return fmt.Errorf("loading %s: %w", o.Source, err)
	}
	if o.Platform != nil {
		for i := range loaded {
			if loaded[i].Descriptor, err = loadedPlatform(st, loaded[i], *o.Platform); err != nil {
				discardFailedLoad(ctx, st, o.Log)
				return fmt.Errorf("loading %s: %w", o.Source, err)
			}
		}
	}
	for _, l := range loaded {
		// Like docker, say when a name moves away from another image.
		for _, n := range l.Names {
			if prev, err := st.Lookup(ctx, n); err == nil && prev.Digest != l.Descriptor.Digest && hasName(prev.Names, n) {
				emit(fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", ref.FamiliarString(n), prev.ID))
			}
		}
		img, err := st.AddImage(ctx, l.Descriptor, l.Names...)
		if err != nil {
			discardFailedLoad(ctx, st, o.Log)
			return fmt.Errorf("loading %s: recording %s: %w", o.Source, l.Descriptor.Digest, err)
		}
		if len(l.Names) == 0 {
			emit("Loaded image ID: " + img.ID.String())
			continue
		}
		for _, n := range l.Names {
			emit("Loaded image: " + ref.FamiliarString(n))
		}
	}
	return nil
}

// loadedPlatform narrows a loaded image to platform p: the matching child
// of an index (the rest of the index stays unreferenced, for GC), or the
// image itself when its config is for p.
func loadedPlatform(st *store.Store, l archive.Loaded, p v1.Platform) (v1.Descriptor, error) {
	shown := l.Descriptor.Digest.String()
	if len(l.Names) > 0 {
		shown = ref.FamiliarString(l.Names[0])
	}
	notProvided := fmt.Errorf("image %s does not provide the specified platform (%s)", shown, p.String())
	if l.Descriptor.MediaType.IsIndex() {
		m, err := st.IndexManifest(l.Descriptor.Digest)
		if err != nil {
			return v1.Descriptor{}, err
		}
		child, err := st.PlatformManifest(m, &p, true)
		if errors.Is(err, store.ErrNotFound) {
			return v1.Descriptor{}, notProvided
		}
		return child, err
	}
	m, err := st.Manifest(l.Descriptor.Digest)
	if err != nil {
		return v1.Descriptor{}, err
	}
	cfg, err := st.ConfigFile(m.Config.Digest)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if !image.ConfigMatches(cfg, p) {
		return v1.Descriptor{}, notProvided
	}
	return l.Descriptor, nil
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

// discardFailedLoad leaves the store as it was before a failed load: it
// ends this process's hold (lease) on the blobs the load stored and runs the
// store's garbage collection, which removes them unless an image or another
// running berth process needs them. Deleting them directly would race with a
// concurrent load of the same content.
func discardFailedLoad(ctx context.Context, st *store.Store, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	root := st.Root()
	st.Close()
	fresh, err := store.Open(ctx, root)
	if err != nil {
		log.Debug("reopening the store after a failed load", "err", err)
		return
	}
	defer fresh.Close()
	res, err := fresh.GC(ctx)
	log.Debug("collected the blobs of a failed load", "blobs", res.Blobs, "bytes", res.Reclaimed, "err", err)
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
