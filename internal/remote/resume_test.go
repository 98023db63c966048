package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// cuttingProxy forwards to a registry and breaks the connection after cutAt
// bytes of the response body for GETs of one blob, while cuts > 0; it
// answers manifest GETs 503 while busy > 0.
type cuttingProxy struct {
	*remotetest.Proxy
	blob  string
	cutAt int64
	cuts  atomic.Int64

	busy      atomic.Int64 // manifest GETs still to answer 503
	manifests atomic.Int64 // manifest GETs seen
}

func (p *cuttingProxy) intercept(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/manifests/") {
		return false
	}
	p.manifests.Add(1)
	if p.busy.Add(-1) < 0 {
		return false
	}
	http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}`, http.StatusServiceUnavailable)
	return true
}

func (p *cuttingProxy) copyBody(w http.ResponseWriter, r *http.Request, body io.Reader) {
	if d, ok := remotetest.BlobGet(r); !ok || d != p.blob || p.cuts.Add(-1) < 0 {
		io.Copy(w, body)
		return
	}
	io.CopyN(w, body, p.cutAt)
	w.(http.Flusher).Flush()
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// seen is the Range header of each GET of the blob ("" for none).
func (p *cuttingProxy) seen() []string { return p.Ranges(p.blob) }

func setupResume(t *testing.T) (*cuttingProxy, string, v1.Image, v1.Hash) {
	t.Helper()
	reg := remotetest.Start(t, remotetest.Options{})
	img := randomImage(t, 1<<20, 1)
	skopeoPush(t, img, reg.Host+"/resume/img:v1")
	ls, _ := img.Layers()
	d, _ := ls[0].Digest()
	p := &cuttingProxy{blob: d.String(), cutAt: 64 << 10}
	p.Proxy = &remotetest.Proxy{Upstream: reg.Host, Intercept: p.intercept, CopyBody: p.copyBody}
	return p, p.Start(t), img, d
}

// teeStore offers the store's BlobWriter, as the CLI wires it, so pulls
// feed the store while downloading.
type teeStore struct{ *store.Store }

func (s teeStore) NewBlobWriter() (BlobWriter, error) { return s.Store.NewBlobWriter() }

// sinks runs a test against both ways a pull hands blobs to the store.
func sinks(t *testing.T, f func(t *testing.T, sink func(*store.Store) BlobSink)) {
	t.Run("WriteBlob", func(t *testing.T) { f(t, func(s *store.Store) BlobSink { return s }) })
	t.Run("BlobWriter", func(t *testing.T) { f(t, func(s *store.Store) BlobSink { return teeStore{s} }) })
}

// A connection cut mid-layer is continued with a Range request in the same
// run, not started again.
func TestResumeWithinRun(t *testing.T) { sinks(t, testResumeWithinRun) }

func testResumeWithinRun(t *testing.T, sink func(*store.Store) BlobSink) {
	p, host, img, _ := setupResume(t)
	p.cuts.Store(1)
	e := newEnv(t, Settings{})
	res, err := e.c.Pull(context.Background(), mustRef(t, host+"/resume/img:v1"), sink(e.st), PullOptions{PartialDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest != digestOf(t, img.Digest) {
		t.Fatal("wrong digest")
	}
	want := []string{"", fmt.Sprintf("bytes=%d-", p.cutAt)}
	if got := p.seen(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("blob requests with ranges %q, want %q", got, want)
	}
}

// A pull that gives up keeps its partial blob; the next run continues from
// there and the result verifies.
func TestResumeAcrossRuns(t *testing.T) { sinks(t, testResumeAcrossRuns) }

func testResumeAcrossRuns(t *testing.T, sink func(*store.Store) BlobSink) {
	p, host, img, layer := setupResume(t)
	p.cuts.Store(100)
	e := newEnv(t, Settings{})
	partial := t.TempDir()
	ref := mustRef(t, host+"/resume/img:v1")
	if _, err := e.c.Pull(context.Background(), ref, sink(e.st), PullOptions{PartialDir: partial}); err == nil {
		t.Fatal("pull through a proxy that always cuts succeeded")
	}
	st, err := os.Stat(filepath.Join(partial, "sha256-"+layer.Hex))
	if err != nil || st.Size() != int64(maxAttempts)*p.cutAt {
		t.Fatalf("partial blob: %v, size %d; want %d bytes kept", err, sizeOf(st), int64(maxAttempts)*p.cutAt)
	}
	if e.st.HasBlob(layer) {
		t.Fatal("an incomplete blob entered the store")
	}
	if left, _ := os.ReadDir(filepath.Join(e.st.Root(), "tmp")); len(left) != 0 {
		t.Fatalf("the failed pull left %d temp files in the store", len(left))
	}
	p.cuts.Store(0)
	before := len(p.seen())
	res, err := e.c.Pull(context.Background(), ref, sink(e.st), PullOptions{PartialDir: partial})
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest != digestOf(t, img.Digest) || !e.st.HasBlob(layer) {
		t.Fatal("resumed pull did not store the image")
	}
	got := p.seen()[before:]
	if want := fmt.Sprintf("bytes=%d-", st.Size()); len(got) != 1 || got[0] != want {
		t.Fatalf("second run requested %q, want one %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(partial, "sha256-"+layer.Hex)); !os.IsNotExist(err) {
		t.Fatalf("partial file left behind: %v", err)
	}
}

// A corrupt partial file (wrong bytes) is caught by the digest check and
// never enters the store.
func TestResumeCorruptPartial(t *testing.T) { sinks(t, testResumeCorruptPartial) }

func testResumeCorruptPartial(t *testing.T, sink func(*store.Store) BlobSink) {
	_, host, _, layer := setupResume(t)
	e := newEnv(t, Settings{})
	partial := t.TempDir()
	os.WriteFile(filepath.Join(partial, "sha256-"+layer.Hex), []byte(strings.Repeat("x", 1000)), 0o600)
	_, err := e.c.Pull(context.Background(), mustRef(t, host+"/resume/img:v1"), sink(e.st), PullOptions{PartialDir: partial})
	if err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
	if e.st.HasBlob(layer) {
		t.Fatal("corrupt blob stored")
	}
	// The bad partial is gone, so the next pull starts clean and succeeds.
	if _, err := e.c.Pull(context.Background(), mustRef(t, host+"/resume/img:v1"), sink(e.st), PullOptions{PartialDir: partial}); err != nil {
		t.Fatal(err)
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return -1
	}
	return st.Size()
}

// A registry that answers a manifest GET with 503 a few times is asked
// again; one that keeps failing gets maxAttempts tries and an error.
func TestManifestRetry(t *testing.T) {
	for _, tc := range []struct {
		busy     int64
		wantErr  bool
		attempts int64
	}{
		{busy: 0, attempts: 1},
		{busy: maxAttempts - 1, attempts: maxAttempts},
		{busy: 100, wantErr: true, attempts: maxAttempts},
	} {
		t.Run(fmt.Sprint(tc.busy), func(t *testing.T) {
			p, host, _, _ := setupResume(t)
			p.busy.Store(tc.busy)
			e := newEnv(t, Settings{})
			_, err := e.c.Pull(context.Background(), mustRef(t, host+"/resume/img:v1"), e.st, PullOptions{PartialDir: t.TempDir()})
			if (err != nil) != tc.wantErr {
				t.Fatalf("pull error %v, want error: %v", err, tc.wantErr)
			}
			if got := p.manifests.Load(); got != tc.attempts {
				t.Fatalf("%d manifest GETs, want %d", got, tc.attempts)
			}
		})
	}
}
