package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
)

// inTTY runs a shell command line in a tmux pane (a real pty, 150x40) and
// returns the screen once it has exited.
func inTTY(t *testing.T, env []string, line string) string {
	t.Helper()
	tmux := testenv.Peer(t, "tmux")
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tm := func(args ...string) (string, error) {
		cmd := exec.Command(tmux, append([]string{"-S", sock}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := tm("new-session", "-d", "-x", "150", "-y", "40", "sh", "-c", line+"; echo EXIT=$?; sleep 60"); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { tm("kill-server") })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		screen, err := tm("capture-pane", "-p", "-J")
		if err == nil && strings.Contains(screen, "EXIT=") {
			return screen
		}
		time.Sleep(200 * time.Millisecond)
	}
	screen, _ := tm("capture-pane", "-p", "-J")
	t.Fatalf("%s did not finish in the pane:\n%s", line, screen)
	return ""
}

// TestTTYProgress pulls and builds on a terminal: the pane ends with
// docker pull's lines (each layer "Pull complete", then Digest and Status)
// and BuildKit's finished view ("[+] Building 0.3s (3/3) FINISHED").
func TestTTYProgress(t *testing.T) {
	c := newCLI(t)
	c.importImage("busybox:latest", nil)
	reg := serveRegistry(t, c.bin)
	c.ok("tag", "busybox", reg+"/tty/bb:1")
	c.ok("push", "-q", reg+"/tty/bb:1")
	env := os.Environ()
	fresh := t.TempDir()

	screen := inTTY(t, env, c.bin+" --root "+fresh+" pull "+reg+"/tty/bb:1")
	t.Logf("pull on a terminal:\n%s", screen)
	for _, w := range []string{"1: Pulling from tty/bb", ": Pull complete", "Digest: sha256:", "Status: Downloaded newer image for " + reg + "/tty/bb:1", "EXIT=0"} {
		if !strings.Contains(screen, w) {
			t.Errorf("pull's screen lacks %q:\n%s", w, screen)
		}
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo tty-step\nLABEL a=b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	screen = inTTY(t, env, "cd "+dir+" && "+c.bin+" --root "+c.root+" build -t tty:1 .")
	for _, w := range []string{"[+] Building ", "(3/3) FINISHED", " => [1/2] FROM docker.io/library/busybox", " => [2/2] RUN echo tty-step ", "EXIT=0"} {
		if !strings.Contains(screen, w) {
			t.Errorf("build's screen lacks %q:\n%s", w, screen)
		}
	}
	if strings.Contains(screen, "#1 ") {
		t.Errorf("plain progress on a terminal:\n%s", screen)
	}
}
