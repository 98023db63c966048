package cli

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/remote/remotetest"
)

// slowProxy forwards to a registry, trickling blob bodies while slow is set.
type slowProxy struct {
	*remotetest.Proxy
	slow atomic.Bool
}

func newSlowProxy(upstream string) *slowProxy {
	p := &slowProxy{}
	p.Proxy = &remotetest.Proxy{Upstream: upstream, CopyBody: p.copyBody}
	return p
}

func (p *slowProxy) copyBody(w http.ResponseWriter, r *http.Request, body io.Reader) {
	if _, blob := remotetest.BlobGet(r); !blob || !p.slow.Load() {
		io.Copy(w, body)
		return
	}
	buf := make([]byte, 16<<10)
	for {
		n, err := body.Read(buf)
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
	img := seedRandom(t, reg.Host+"/slow/img:v1", 2<<20, 1)
	dig, _ := img.Digest()
	p := newSlowProxy(reg.Host)
	p.slow.Store(true)
	ref := p.Start(t) + "/slow/img:v1"
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
	before := len(p.Ranges(""))
	out, errOut, code := b.run(t, "", "pull", ref)
	if code != 0 || !strings.Contains(out, "Digest: "+dig.String()) {
		t.Fatalf("resumed pull: exit %d\n%s%s", code, out, errOut)
	}
	got := strings.Join(p.Ranges("")[before:], ",")
	if want := "bytes=" + strconv.FormatInt(kept, 10) + "-"; !strings.Contains(got, want) {
		t.Fatalf("resumed pull sent ranges %q, want one %q", got, want)
	}
}
