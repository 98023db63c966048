package cli_test

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tempsDockerfile makes every kind of temp file a build makes for itself:
// an ADD download, a COPY --from unpack, a file copied from a stage to two
// targets, a bind mount of a stage, a heredoc, a secret from the
// environment and RUN's sandbox state, with sleeps so that kills land
// inside steps as well as between them.
const tempsDockerfile = `FROM busybox AS gen
RUN mkdir -p /out && echo one > /out/a && sleep 0.1
ADD %URL% /dl/file.txt
FROM busybox
COPY --from=gen /out/a /out /y/
COPY --from=gen /dl /dl
RUN --mount=type=bind,from=gen,source=/out,target=/g cat /g/a > /copied && echo started && sleep 0.5
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null
COPY <<EOF /note
heredoc
EOF
RUN sleep 0.1
`

// TestBuildKilledLeavesNoTemps: builds killed with SIGKILL at random
// moments leave their temp files only until `builder prune` or the next
// build, either of which removes them; a failed build and Ctrl-C mid-RUN
// leave none; nothing goes to the system's temp directory.
func TestBuildKilledLeavesNoTemps(t *testing.T) {
	e := newBuildEnv(t)
	// A download that takes about half a second: the ADD's temp file lives
	// that long.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "65536")
		for i := 0; i < 16; i++ {
			w.Write(bytes.Repeat([]byte("d"), 4096))
			w.(http.Flusher).Flush()
			time.Sleep(30 * time.Millisecond)
		}
	}))
	defer srv.Close()
	dir := ctxDir(t, map[string]string{"Dockerfile": strings.ReplaceAll(tempsDockerfile, "%URL%", srv.URL+"/file.txt")})
	sysTmp := t.TempDir()
	tmpRoot := filepath.Join(e.root, "build", "tmp")
	env := append(os.Environ(), "TMPDIR="+sysTmp, "TOK=s3cret")
	build := func(args ...string) *exec.Cmd {
		cmd := exec.Command(e.bin, append([]string{"--root", e.root, "build", "--no-cache", "--progress", "plain", "--secret", "id=tok,env=TOK"}, append(args, ".")...)...)
		cmd.Dir, cmd.Env = dir, env
		return cmd
	}
	// How long a whole build takes here, to spread the kills over it.
	start := time.Now()
	if out, err := build().CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	full := time.Since(start)
	// killSome kills n builds at random moments of a build's run.
	leftAfterKill := 0
	killSome := func(n int) {
		for i := 0; i < n; i++ {
			cmd := build()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(rand.Int64N(int64(full))))
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if ents, _ := os.ReadDir(tmpRoot); len(ents) > 0 {
				leftAfterKill++
			}
		}
	}
	emptyAfter := func(what string) {
		t.Helper()
		if ents, _ := os.ReadDir(tmpRoot); len(ents) != 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("%d entries left in build/tmp after %s: %v", len(ents), what, names)
		}
	}
	// builder prune cleans up after killed builds...
	killSome(5)
	prune := exec.Command(e.bin, "--root", e.root, "builder", "prune", "-f")
	prune.Env = env
	if out, err := prune.CombinedOutput(); err != nil {
		t.Fatalf("builder prune after the kills: %v\n%s", err, out)
	}
	emptyAfter("builder prune")
	// ... and so does the next build, a different one.
	killSome(5)
	t.Logf("a build takes %v; %d of 10 kills left temp files behind", full, leftAfterKill)
	if leftAfterKill == 0 {
		t.Log("no kill landed inside a build (the machine is fast); the sweep is still checked")
	}
	other := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	cmd := exec.Command(e.bin, "--root", e.root, "build", "-q", ".")
	cmd.Dir, cmd.Env = other, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build after the kills: %v\n%s", err, out)
	}
	emptyAfter("the next build")
	// A build that fails after making every kind of temp file leaves none.
	failing := ctxDir(t, map[string]string{"Dockerfile": strings.ReplaceAll(tempsDockerfile, "%URL%", srv.URL+"/file.txt") + "RUN exit 3\n"})
	cmd = exec.Command(e.bin, "--root", e.root, "build", "--progress", "plain", "--secret", "id=tok,env=TOK", ".")
	cmd.Dir, cmd.Env = failing, env
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("the failing build succeeded:\n%s", out)
	}
	emptyAfter("a failed build")
	// Ctrl-C in the middle of the RUN that binds a stage leaves nothing.
	cmd = build()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), " started\n"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the RUN never started:\n%s", out.String())
		}
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("Ctrl-C: exit %d, want 130", code)
	}
	if ents, _ := os.ReadDir(tmpRoot); len(ents) != 0 {
		t.Errorf("left in build/tmp after Ctrl-C: %v", ents)
	}
	if ents, _ := os.ReadDir(sysTmp); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("builds wrote to the system temp directory: %v", names)
	}
}

// TestBuilderPruneRemovesDeadTemps: `builder prune` removes what a killed
// build left, and what an older berth left in build/tmp.
func TestBuilderPruneRemovesDeadTemps(t *testing.T) {
	e := newBuildEnv(t)
	tmpRoot := filepath.Join(e.root, "build", "tmp")
	for _, n := range []string{"build-dead/x", "from-123/y", "git-1/.git/z", "heredoc-9", "add-3", "bind-7/w"} {
		write(t, filepath.Join(tmpRoot, n), "junk", 0o644)
	}
	write(t, filepath.Join(tmpRoot, "build-dead.lock"), "", 0o644)
	if _, se, code := e.run(t.TempDir(), nil, "builder", "prune", "-f"); code != 0 {
		t.Fatalf("builder prune: %s", se)
	}
	if ents, _ := os.ReadDir(tmpRoot); len(ents) != 0 {
		t.Errorf("left in build/tmp after builder prune: %v", ents)
	}
}

// lockedBuffer is a bytes.Buffer a command writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
