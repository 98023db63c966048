package registry_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/berth-dev/berth/internal/testenv"
)

// served is a `berth registry serve` process started by a test.
type served struct {
	cmd  *exec.Cmd
	addr string
	root string
	mu   sync.Mutex // guards logs, written by the reader goroutine
	logs *strings.Builder
	done chan struct{}
}

// logText is what the registry has logged so far.
func (s *served) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// serve starts the berth binary's registry on 127.0.0.1 with a random port
// and waits for its "listening" log line.
func serve(t *testing.T, root string, args ...string) *served {
	t.Helper()
	bin := testenv.Berth(t)
	args = append([]string{"registry", "serve", "--root", root, "--addr", "127.0.0.1:0"}, args...)
	s := serveCmd(t, exec.Command(bin, args...))
	s.root = root
	return s
}

// serveCmd starts cmd, a `berth registry serve` command line, and waits for
// its "listening" log line.
func serveCmd(t *testing.T, cmd *exec.Cmd) *served {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, logs: &strings.Builder{}, done: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			if s.logs.Len() < 1<<20 {
				s.logs.WriteString(line + "\n")
			}
			s.mu.Unlock()
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" {
				addrc <- m.Addr
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() { s.stop(t, syscall.SIGKILL) })
	select {
	case s.addr = <-addrc:
	case <-s.done:
		cmd.Wait()
		t.Fatalf("registry exited: %s", s.logText())
	case <-time.After(20 * time.Second):
		t.Fatalf("registry did not start: %s", s.logText())
	}
	return s
}

// stop signals the server and waits for it to exit.
func (s *served) stop(t *testing.T, sig syscall.Signal) error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	return s.cmd.Wait()
}

// makeHtpasswd writes an htpasswd file with berth's own command.
func makeHtpasswd(t *testing.T, user, pass string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "htpasswd")
	cmd := exec.CommandContext(context.Background(), testenv.Berth(t), "registry", "htpasswd", "-Bc", "--password-stdin", p, user)
	cmd.Stdin = strings.NewReader(pass + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("berth registry htpasswd: %v %s", err, out)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustEmptyIndex() v1.ImageIndex { return empty.Index }
