package cli

import (
	"context"
	"errors"
	"fmt"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"
)

// remoteFlags are the registry options pull, push, login and search share.
type remoteFlags struct {
	insecure []string // --insecure-registry (daemon.json's insecure-registries)
}

// newRemoteClient builds the registry client from berth's settings file,
// Docker's config directory and the command's flags.
func (a *app) newRemoteClient(f *remoteFlags) (*remote.Client, error) {
	var insecure []string
	if f != nil {
		insecure = f.insecure
	}
	c, err := remote.New(remote.Options{
		InsecureRegistries: insecure,
		Logger:             a.logger(),
		UserAgent:          "berth/" + berthVersion(),
	})
	if err != nil {
		return nil, withHint(err, "fix or remove the settings file "+remote.SettingsPath())
	}
	return c, nil
}

// storeSink hands pulled blobs to the store: WriteBlob for small ones, and
// the store's BlobWriter, fed while a layer downloads, for the rest.
type storeSink struct{ *store.Store }

func (s storeSink) NewBlobWriter() (remote.BlobWriter, error) { return s.Store.NewBlobWriter() }

// AdoptBlob stores a finished download and, for a large blob (a layer),
// learns its uncompressed size while other layers are still downloading: a
// gzip layer's from its trailer (two small reads), a zstd layer's by
// decompressing it (see store.LayerSize).
func (s storeSink) AdoptBlob(ctx context.Context, h v1.Hash, size int64, path string) error {
	if err := s.Store.AdoptBlob(ctx, h, size, path); err != nil {
		return err
	}
	if size >= 1<<20 {
		if _, err := s.Store.LayerSize(v1.Descriptor{Digest: h, Size: size}); err != nil {
			return fmt.Errorf("reading layer %s: %w", h, err)
		}
	}
	return nil
}

// partialDir is where interrupted blob downloads wait to be resumed.
func partialDir(st *store.Store) string {
	return filepath.Join(st.Root(), "remote", "partial")
}

// dockerError is an error whose text is the Docker CLI's own wording,
// capital letter included, so scripts that match Docker's messages match
// berth's.
type dockerError string

func (e dockerError) Error() string { return string(e) }

// remoteErr turns a classified registry error into berth's error and hint.
func remoteErr(err error) error {
	var re *remote.Error
	if errors.As(err, &re) {
		return withHint(err, re.Hint())
	}
	return err
}

// canDrawBars reports whether w is a terminal with a known size, which the
// bars need to redraw themselves (a pty without a size gets plain lines).
func canDrawBars(w any) bool {
	if !isTerminal(w) {
		return false
	}
	ws, err := unix.IoctlGetWinsize(int(w.(*os.File).Fd()), unix.TIOCGWINSZ)
	return err == nil && ws.Col > 0 && ws.Row > 0
}

// lineProgress prints Docker's non-terminal progress: one "ID: Status" line
// per status change, no byte counts, no escape codes. "Pull complete" lines
// come in layer order, as Docker's (which extracts layers one after the
// other) do: a layer downloaded before the one under it waits for it.
type lineProgress struct {
	mu      sync.Mutex
	w       io.Writer
	last    map[string]string
	order   []string        // layers in manifest order, as they were announced
	pending map[string]bool // complete, waiting for the layers before them
	next    int             // index in order of the first layer not yet complete
}

func newLineProgress(w io.Writer) *lineProgress {
	return &lineProgress{w: w, last: map[string]string{}, pending: map[string]bool{}}
}

func (p *lineProgress) Status(id, status string) {
	if status == "Downloading" || status == "Pushing" {
		return // byte progress is for terminals
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last[id] == status {
		return
	}
	p.last[id] = status
	switch status {
	case "Pulling fs layer", "Already exists":
		p.order = append(p.order, id)
		if status == "Already exists" {
			p.pending[id] = true
		}
	case "Pull complete":
		if p.known(id) {
			p.pending[id] = true
			p.flush(false)
			return
		}
	}
	fmt.Fprintf(p.w, "%s: %s\n", id, status)
	if status == "Already exists" {
		p.flush(false)
	}
}

func (p *lineProgress) known(id string) bool {
	for _, o := range p.order {
		if o == id {
			return true
		}
	}
	return false
}

// flush prints the "Pull complete" lines now in order (all of them when
// the transfer is over).
func (p *lineProgress) flush(all bool) {
	for ; p.next < len(p.order); p.next++ {
		id := p.order[p.next]
		if !p.pending[id] && !all {
			return
		}
		if p.pending[id] && p.last[id] == "Pull complete" {
			fmt.Fprintf(p.w, "%s: Pull complete\n", id)
		}
	}
}

func (p *lineProgress) Bytes(string, int64, int64) {}

func (p *lineProgress) Wait() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flush(true)
}

// barProgress draws one mpb bar per layer on a terminal, labelled with the
// layer's current status, as Docker's progress display does.
type barProgress struct {
	p    *mpb.Progress
	mu   sync.Mutex
	bars map[string]*layerBar
}

type layerBar struct {
	bar    *mpb.Bar
	status string
	total  int64
	mu     sync.Mutex
}

func (l *layerBar) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// newBarProgress draws on w; opts are for tests (mpb draws only to a
// terminal unless told to refresh anyway).
func newBarProgress(w io.Writer, opts ...mpb.ContainerOption) *barProgress {
	opts = append([]mpb.ContainerOption{mpb.WithOutput(w)}, opts...)
	return &barProgress{p: mpb.New(opts...), bars: map[string]*layerBar{}}
}

func (b *barProgress) layer(id string) *layerBar {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, ok := b.bars[id]; ok {
		return l
	}
	l := &layerBar{}
	// Docker's line: "a3ed95caeb02: Downloading [=====>     ]  12.34MB/38.2MB",
	// sizes as units.HumanSize writes them (four digits, powers of 1000).
	l.bar = b.p.New(0, mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding(" ").Rbound("]"),
		mpb.PrependDecorators(
			decor.Name(id+": "),
			decor.Any(func(decor.Statistics) string { return l.get() }, decor.WCSyncSpaceR),
		),
		mpb.AppendDecorators(decor.OnComplete(decor.Any(func(st decor.Statistics) string {
			if st.Total <= 0 {
				return ""
			}
			return fmt.Sprintf("%8s/%s", output.HumanSize4(st.Current), output.HumanSize4(st.Total))
		}), "")),
		mpb.BarFillerClearOnComplete(),
		mpb.BarWidth(52), // docker's 50 cells between the brackets
	)
	b.bars[id] = l
	return l
}

func (b *barProgress) Status(id, status string) {
	l := b.layer(id)
	l.mu.Lock()
	l.status = status
	l.mu.Unlock()
	switch status {
	case "Already exists", "Pull complete", "Pushed", "Layer already exists":
		l.bar.SetTotal(-1, true)
	default:
		if strings.HasPrefix(status, "Mounted from") {
			l.bar.SetTotal(-1, true)
		}
	}
}

func (b *barProgress) Bytes(id string, done, total int64) {
	l := b.layer(id)
	if l.total != total {
		l.total = total
		l.bar.SetTotal(total, false)
	}
	l.bar.SetCurrent(done)
}

func (b *barProgress) Wait() {
	b.mu.Lock()
	for _, l := range b.bars {
		if !l.bar.Completed() {
			l.bar.Abort(false)
		}
	}
	b.mu.Unlock()
	b.p.Wait()
}

// progressSink is a remote.Progress the command waits for before printing
// its summary.
type progressSink interface {
	remote.Progress
	Wait()
}

func (a *app) newProgress(quiet bool) progressSink {
	switch {
	case quiet:
		return quietProgress{}
	case canDrawBars(a.stdout):
		return newBarProgress(a.stdout)
	default:
		return newLineProgress(a.stdout)
	}
}

// cliEvents draws remote.Events as Docker's CLI does: the lines about an
// image on stdout ("latest: Pulling from library/busybox", "Digest: …"),
// layer progress as bars on a terminal or as plain lines. A line about the
// image first finishes the bars of the transfer before it.
type cliEvents struct {
	a     *app
	quiet bool
	mu    sync.Mutex
	cur   progressSink // the current transfer's layers; nil between transfers
}

func (a *app) newEvents(quiet bool) *cliEvents { return &cliEvents{a: a, quiet: quiet} }

func (e *cliEvents) layers() progressSink {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		e.cur = e.a.newProgress(e.quiet)
	}
	return e.cur
}

func (e *cliEvents) Status(id, status string)           { e.layers().Status(id, status) }
func (e *cliEvents) Bytes(id string, done, total int64) { e.layers().Bytes(id, done, total) }

func (e *cliEvents) Message(id, text string) {
	e.Wait()
	if e.quiet {
		return
	}
	if id != "" {
		text = id + ": " + text
	}
	fmt.Fprintln(e.a.stdout, text)
}

// Wait finishes the bars being drawn.
func (e *cliEvents) Wait() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur != nil {
		e.cur.Wait()
		e.cur = nil
	}
}

type quietProgress struct{}

func (quietProgress) Status(string, string)      {}
func (quietProgress) Bytes(string, int64, int64) {}
func (quietProgress) Wait()                      {}
