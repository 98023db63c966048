package cli

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/remote/remotetest"
)

// slowProxy forwards to a registry, trickling blob bodies while slow is set,
// and records the Range header of every blob GET.
type slowProxy struct {
	upstream string
	slow     atomic.Bool
	mu       sync.Mutex
	ranges   []string
}

func (p *slowProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.upstream+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	blob := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/")
	if blob {
		p.mu.Lock()
		p.ranges = append(p.ranges, r.Header.Get("Range"))
		p.mu.Unlock()
	}
	w.WriteHeader(resp.StatusCode)
	if !blob || !p.slow.Load() {
		io.Copy(w, resp.Body)
		return
	}
	buf := make([]byte, 16<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			return
		}
	}
}

// Ctrl-C in the middle of a layer exits 130 and keeps what arrived; the
// next pull asks only for the rest.
func TestInterruptedPullResumesCLI(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	img := seedSized(t, reg.Host+"/slow/img:v1", 2<<20)
	dig, _ := img.Digest()
	p := &slowProxy{upstream: reg.Host}
	p.slow.Store(true)
	srv := httptest.NewServer(p)
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/slow/img:v1"
	b := newBerthEnv(t)

	cmd := exec.Command(b.bin, "pull", ref)
	cmd.Env = b.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(b.dir, "root", "remote", "partial")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ents, _ := os.ReadDir(partial); len(ents) > 0 {
			if st, err := os.Stat(filepath.Join(partial, ents[0].Name())); err == nil && st.Size() > 64<<10 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || !strings.Contains(stderr.String(), "berth: interrupted") {
		t.Fatalf("interrupted pull: %v\n%s", err, stderr.String())
	}
	ents, _ := os.ReadDir(partial)
	if len(ents) == 0 {
		t.Fatal("no partial blob kept")
	}
	st, _ := os.Stat(filepath.Join(partial, ents[0].Name()))
	kept := st.Size()

	p.slow.Store(false)
	p.mu.Lock()
	before := len(p.ranges)
	p.mu.Unlock()
	out, errOut, code := b.run(t, "", "pull", ref)
	if code != 0 || !strings.Contains(out, "Digest: "+dig.String()) {
		t.Fatalf("resumed pull: exit %d\n%s%s", code, out, errOut)
	}
	p.mu.Lock()
	got := strings.Join(p.ranges[before:], ",")
	p.mu.Unlock()
	if want := "bytes=" + strconv.FormatInt(kept, 10) + "-"; !strings.Contains(got, want) {
		t.Fatalf("resumed pull sent ranges %q, want one %q", got, want)
	}
}
