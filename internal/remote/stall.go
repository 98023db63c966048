package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/untrusted"
)

// DefaultStallTimeout is how long a registry may send (or take) no data
// before a transfer gives up on it. Like Docker, berth bounds a transfer's
// progress, not its length: a slow registry is waited for as long as bytes
// keep coming.
const DefaultStallTimeout = 30 * time.Second

// StallTimeoutEnv overrides the stall window (a Go duration: "30s", "2m").
const StallTimeoutEnv = "BERTH_STALL_TIMEOUT"

// stallTimeout picks the window: o's, else $BERTH_STALL_TIMEOUT, else the
// default.
func stallTimeout(o time.Duration) (time.Duration, error) {
	if o > 0 {
		return o, nil
	}
	v := os.Getenv(StallTimeoutEnv)
	if v == "" {
		return DefaultStallTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%s: want a positive duration such as 30s or 2m", StallTimeoutEnv, untrusted.Quote(v))
	}
	return d, nil
}

// StallError says a registry stopped sending (or taking) data.
type StallError struct {
	Window time.Duration
	// Doing is what the transfer was at: "reading the manifest", "sending
	// a blob", "waiting for a token from auth.example".
	Doing string
}

func (e *StallError) Error() string {
	return fmt.Sprintf("registry stalled: no data for %s while %s", seconds(e.Window), e.Doing)
}

// seconds prints whole seconds as "30s", not Duration's "30s"/"1m0s" mix.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// stallGuard is the RoundTripper that gives up on a stalled registry. It
// sits under every other layer (auth, retries, user agent), so manifests,
// blobs, token requests and uploads are all watched. Three phases count as
// waiting on the registry: the transport taking a request body (a registry
// that stops reading blocks the socket), the wait for the answer to a
// request without a body, and each Read of a response body. Time the caller
// spends between Reads (writing to disk) does not count. The wait for the
// answer to a request with a body is left to the transport's
// ResponseHeaderTimeout: a registry may rightly think a while after the last
// byte of an upload.
type stallGuard struct {
	next   http.RoundTripper
	window time.Duration
}

func (g *stallGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	w := &watch{window: g.window, cancel: cancel, what: describe(req)}
	out := req.WithContext(ctx)
	w.begin("waiting for")
	if req.Body != nil && req.Body != http.NoBody {
		w.doing.Store("sending")
		out.Body = &sendBody{rc: req.Body, w: w}
	}
	// Created stopped and published before it can fire, so check always
	// finds it.
	t := time.AfterFunc(time.Hour, w.check)
	t.Stop()
	w.timer.Store(t)
	t.Reset(g.window)
	resp, err := g.next.RoundTrip(out)
	w.end(0)
	if err != nil {
		w.stop()
		if w.fired.Load() {
			return nil, w.err()
		}
		if strings.Contains(err.Error(), "timeout awaiting response headers") {
			return nil, &StallError{Window: responseHeaderTimeout, Doing: "waiting for the answer about " + w.what}
		}
		return nil, err
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		w.stop() // a HEAD: nothing more to wait for
		return resp, nil
	}
	resp.Body = &recvBody{rc: resp.Body, w: w}
	return resp, nil
}

// watch is one request's stall clock. busy is set while the registry owes
// us something; last is when it last delivered. The timer re-arms itself
// for what is left of the window, so a Read costs two clock reads, not
// timer operations.
type watch struct {
	window time.Duration
	cancel context.CancelFunc
	what   string
	timer  atomic.Pointer[time.Timer]

	last  atomic.Int64 // unix nanoseconds of the last progress (or of the wait's start)
	busy  atomic.Bool
	doing atomic.Value // string: "sending", "waiting for", "reading"
	fired atomic.Bool
	done  atomic.Bool
	once  sync.Once
}

func (w *watch) begin(doing string) {
	w.doing.Store(doing)
	w.last.Store(time.Now().UnixNano())
	w.busy.Store(true)
}

func (w *watch) progress() { w.last.Store(time.Now().UnixNano()) }

func (w *watch) end(n int) {
	if n > 0 {
		w.progress()
	}
	w.busy.Store(false)
}

func (w *watch) check() {
	if w.done.Load() {
		return
	}
	idle := time.Since(time.Unix(0, w.last.Load()))
	if w.busy.Load() && idle >= w.window {
		w.fired.Store(true)
		w.cancel()
		return
	}
	next := w.window
	if w.busy.Load() {
		next -= idle
	}
	w.timer.Load().Reset(next)
}

func (w *watch) stop() {
	w.once.Do(func() {
		w.done.Store(true)
		if t := w.timer.Load(); t != nil {
			t.Stop()
		}
		w.cancel()
	})
}

func (w *watch) err() error {
	return &StallError{Window: w.window, Doing: w.doing.Load().(string) + " " + w.what}
}

// sendBody is a request body: every Read the transport makes is progress
// (it reads only as fast as the registry takes the bytes). Once it is all
// sent, the registry's thinking time is the transport's to bound.
type sendBody struct {
	rc io.ReadCloser
	w  *watch
}

func (b *sendBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.w.progress()
	if err != nil {
		b.w.busy.Store(false)
	}
	if err != nil && err != io.EOF && b.w.fired.Load() {
		return n, b.w.err()
	}
	return n, err
}

func (b *sendBody) Close() error {
	b.w.busy.Store(false)
	return b.rc.Close()
}

// recvBody is a response body: the registry is waited on only inside Read.
type recvBody struct {
	rc io.ReadCloser
	w  *watch
}

func (b *recvBody) Read(p []byte) (int, error) {
	if b.w.fired.Load() {
		return 0, b.w.err()
	}
	b.w.begin("reading")
	n, err := b.rc.Read(p)
	b.w.end(n)
	if err != nil && err != io.EOF && b.w.fired.Load() {
		return n, b.w.err()
	}
	if err == io.EOF {
		b.w.stop()
	}
	return n, err
}

func (b *recvBody) Close() error {
	err := b.rc.Close()
	b.w.stop()
	return err
}

// describe names what a request fetches or sends, for the stall message.
func describe(req *http.Request) string {
	p := req.URL.Path
	rest, ok := strings.CutPrefix(p, "/v2/")
	switch {
	case !ok:
		return "a token from " + req.URL.Host
	case rest == "":
		return "the registry's API check (/v2/)"
	case strings.Contains(p, "/manifests/"):
		return "the manifest"
	case strings.Contains(p, "/blobs/uploads/"):
		return "a blob"
	case strings.Contains(p, "/blobs/"):
		d := p[strings.LastIndex(p, "/blobs/")+len("/blobs/"):]
		if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
			d = alg + ":" + hex[:12]
		}
		return "blob " + untrusted.Text(d)
	case strings.HasSuffix(p, "/tags/list"):
		return "the tag list"
	}
	return "the answer from " + req.URL.Host
}
