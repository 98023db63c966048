package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
)

// trickle copies body to w in pieces, pause apart: a slow registry that
// never stops.
func trickle(w http.ResponseWriter, body io.Reader, pieces int, pause time.Duration) {
	b, _ := io.ReadAll(body)
	step := max(1, len(b)/pieces)
	for len(b) > 0 {
		k := min(step, len(b))
		w.Write(b[:k])
		w.(http.Flusher).Flush()
		b = b[k:]
		time.Sleep(pause)
	}
}

// TestStalledRegistry: a registry that stops sending or taking data is
// given up on after the stall window, whatever it was at (manifest, blob,
// token, upload), with a message saying so; one that is slow but keeps
// going is waited for, however long the whole takes.
func TestStalledRegistry(t *testing.T) {
	const window = time.Second
	reg := remotetest.Start(t, remotetest.Options{})
	seed, err := New(Options{Settings: &Settings{}, DockerConfigDir: t.TempDir(), CertsDirs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	img := randomImage(t, 256<<10, 1)
	if _, err := seed.Push(context.Background(), mustRef(t, reg.Host+"/stall/img:v1"), img, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	layer := digestOf(t, ls[0].Digest)
	// More than the sockets buffer, so a stalled upload blocks; compressed
	// once here, so the push's own time is the network's and the stall's,
	// not gzip's on a loaded machine under the race detector.
	big := precompressed(t, randomImage(t, 16<<20, 1))

	// A stalling server holds the request until the client gives up or the
	// subtest ends (released before its servers close).
	var done chan struct{}
	hold := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
	// A token server that never answers.
	tokenStall := func(t *testing.T) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hold(r) }))
		t.Cleanup(srv.Close)
		return srv.URL + "/token"
	}
	isManifest := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/") }

	for _, tc := range []struct {
		name string
		push bool
		// proxy returns how the registry misbehaves.
		proxy func(t *testing.T, p *remotetest.Proxy)
		want  string // "" for success
	}{
		{"manifest stalls mid-body", false, func(t *testing.T, p *remotetest.Proxy) {
			p.CopyBody = func(w http.ResponseWriter, r *http.Request, body io.Reader) {
				if !isManifest(r) {
					io.Copy(w, body)
					return
				}
				io.CopyN(w, body, 10)
				w.(http.Flusher).Flush()
				hold(r)
			}
		}, "registry stalled: no data for 1s while reading the manifest"},
		{"manifest never answered", false, func(t *testing.T, p *remotetest.Proxy) {
			p.Intercept = func(w http.ResponseWriter, r *http.Request) bool {
				if isManifest(r) {
					hold(r)
					return true
				}
				return false
			}
		}, "registry stalled: no data for 1s while waiting for the manifest"},
		{"blob stalls", false, func(t *testing.T, p *remotetest.Proxy) {
			p.CopyBody = func(w http.ResponseWriter, r *http.Request, body io.Reader) {
				if _, ok := remotetest.BlobGet(r); !ok {
					io.Copy(w, body)
					return
				}
				io.CopyN(w, body, 100<<10)
				w.(http.Flusher).Flush()
				hold(r)
			}
		}, "registry stalled: no data for 1s while reading blob " + layer.String()[:len("sha256:")+12]},
		{"token server stalls", false, func(t *testing.T, p *remotetest.Proxy) {
			realm := tokenStall(t)
			p.Intercept = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="stall"`, realm))
				w.WriteHeader(http.StatusUnauthorized)
				return true
			}
		}, "registry stalled: no data for 1s while waiting for a token from 127.0.0.1:"},
		{"upload not read", true, func(t *testing.T, p *remotetest.Proxy) {
			p.Intercept = func(w http.ResponseWriter, r *http.Request) bool {
				switch {
				case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/"):
					w.Header().Set("Location", r.URL.Path+"0123456789abcdef")
					w.WriteHeader(http.StatusAccepted)
					return true
				case r.Method == http.MethodPatch:
					hold(r) // never reads the body
					return true
				}
				return false
			}
		}, "registry stalled: no data for 1s while sending a blob"},
		{"slow manifest and blob", false, func(t *testing.T, p *remotetest.Proxy) {
			p.CopyBody = func(w http.ResponseWriter, r *http.Request, body io.Reader) {
				if _, ok := remotetest.BlobGet(r); ok || isManifest(r) {
					trickle(w, body, 6, window/2)
					return
				}
				io.Copy(w, body)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done = make(chan struct{})
			p := &remotetest.Proxy{Upstream: reg.Host}
			tc.proxy(t, p)
			host := p.Start(t)
			t.Cleanup(func() { close(done) })
			e := newEnv(t, Settings{})
			c, err := New(Options{Settings: &Settings{}, DockerConfigDir: e.dockerDir, CertsDirs: []string{}, StallTimeout: window})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			op := "pulling"
			if tc.push {
				op = "pushing"
				_, err = c.Push(context.Background(), mustRef(t, host+"/stall/big:v1"), big, PushOptions{})
			} else {
				_, err = c.Pull(context.Background(), mustRef(t, host+"/stall/img:v1"), e.st, PullOptions{})
			}
			took := time.Since(start)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if took < 2*window {
					t.Fatalf("the slow registry took %v, less than the stall window twice: the test proves nothing", took)
				}
				return
			}
			if err == nil {
				t.Fatal("transfer from a stalled registry succeeded")
			}
			want := fmt.Sprintf("%s %s/stall/", op, host)
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q … %q", err, want, tc.want)
			}
			var re *Error
			if !errors.As(err, &re) || re.Cause != CauseStalled || !strings.Contains(re.Hint(), StallTimeoutEnv) {
				t.Errorf("error %#v is not classified as a stall with a hint", err)
			}
			if took > 10*window {
				t.Errorf("gave up after %v, window %v", took, window)
			}
		})
	}
}

func TestStallTimeoutSetting(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want time.Duration
		err  bool
	}{
		{"", DefaultStallTimeout, false},
		{"2m", 2 * time.Minute, false},
		{"soon", 0, true},
		{"-1s", 0, true},
	} {
		t.Setenv(StallTimeoutEnv, tc.env)
		got, err := stallTimeout(0)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s=%q: %v, %v", StallTimeoutEnv, tc.env, got, err)
		}
	}
	if got, _ := stallTimeout(time.Second); got != time.Second {
		t.Errorf("the option did not win: %v", got)
	}
}

// BenchmarkStallGuard reads a 64 MiB body over loopback with and without
// the guard: its cost per Read is two clock reads and a few atomics.
func BenchmarkStallGuard(b *testing.B) {
	body := make([]byte, 64<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	for _, guarded := range []bool{false, true} {
		b.Run(fmt.Sprintf("guard=%v", guarded), func(b *testing.B) {
			var rt http.RoundTripper = newHTTPTransport(nil)
			if guarded {
				rt = &stallGuard{next: rt, window: DefaultStallTimeout}
			}
			cl := &http.Client{Transport: rt}
			buf := make([]byte, copyBufSize)
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				resp, err := cl.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
				resp.Body.Close()
			}
		})
	}
}

// precompressed is img with each layer's compressed bytes held in memory:
// pushing it costs no compression.
func precompressed(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var held []v1.Layer
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		mt, _ := l.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, static.NewLayer(b, mt))
	}
	out, err := mutate.AppendLayers(empty.Image, held...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
