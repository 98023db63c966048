package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestConcurrentWriters runs berth processes that import, tag, untag and
// prune against one store at once, then checks that no reference was lost
// and no referenced blob is missing.
func TestConcurrentWriters(t *testing.T) {
	c := newCLI(t)
	c.importImage("base:1", nil)
	const rounds = 6
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	loop := func(fn func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	runOK := func(stdin []byte, args ...string) error {
		_, e, code := c.run(stdin, args...)
		if code != 0 {
			return fmt.Errorf("berth %s: exit %d: %s", strings.Join(args, " "), code, e)
		}
		return nil
	}
	loop(func(i int) error {
		return runOK(busyboxTar(t, map[string]string{"etc/n": fmt.Sprint("a", i)}), "import", "-", fmt.Sprintf("imp:%d", i))
	})
	loop(func(i int) error {
		return runOK(busyboxTar(t, map[string]string{"etc/n": fmt.Sprint("b", i)}), "import", "-", fmt.Sprintf("imp2:%d", i))
	})
	loop(func(i int) error {
		if err := runOK(nil, "tag", "base:1", fmt.Sprintf("t:%d", i)); err != nil {
			return err
		}
		return runOK(nil, "rmi", fmt.Sprintf("t:%d", i))
	})
	loop(func(i int) error { return runOK(nil, "image", "prune", "-f") })
	loop(func(i int) error { return runOK(nil, "system", "prune", "-f") })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	out := c.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
	for i := 0; i < rounds; i++ {
		for _, n := range []string{fmt.Sprintf("imp:%d", i), fmt.Sprintf("imp2:%d", i)} {
			if !strings.Contains(out, n+"\n") {
				t.Errorf("reference %s lost:\n%s", n, out)
			}
		}
	}
	if !strings.Contains(out, "base:1\n") || strings.Contains(out, "t:") {
		t.Errorf("unexpected references:\n%s", out)
	}
	c.ok("system", "check")
	for i := 0; i < rounds; i++ {
		c.ok("inspect", fmt.Sprintf("imp:%d", i))
	}
}

// TestKillNineLeavesUsableStore kills each long operation on the store —
// import, load, save and build — at arbitrary moments, and checks that the
// next commands use the store without repair and that a prune leaves
// nothing of the killed processes behind.
func TestKillNineLeavesUsableStore(t *testing.T) {
	c := newCLI(t)
	c.importImage("base:1", nil)
	big := busyboxTar(t, map[string]string{"big": strings.Repeat("x", 8<<20)})
	// An archive to load and a context to build, each with 8 MiB to write.
	src := newCLI(t)
	src.run(big, "import", "-", "big:1")
	archive := filepath.Join(t.TempDir(), "big.tar")
	src.ok("save", "-o", archive, "big:1")
	c.run(big, "import", "-", "tosave:1")
	ctx := t.TempDir()
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM base:1\nCOPY big /big\nRUN cat /big /big > /twice\n"), 0o644)
	os.WriteFile(filepath.Join(ctx, "big"), bytes.Repeat([]byte("y"), 8<<20), 0o644)
	out := t.TempDir()
	for _, op := range []struct {
		name  string
		stdin []byte
		args  func(i int) []string
	}{
		{"import", big, func(i int) []string { return []string{"import", "-", fmt.Sprintf("k:%d", i)} }},
		{"load", nil, func(int) []string { return []string{"load", "-q", "-i", archive} }},
		{"save", nil, func(i int) []string {
			return []string{"save", "-o", filepath.Join(out, fmt.Sprintf("s%d.tar", i)), "tosave:1"}
		}},
		{"build", nil, func(i int) []string { return []string{"build", "-q", "--no-cache", "-t", fmt.Sprintf("b:%d", i), ctx} }},
	} {
		t.Run(op.name, func(t *testing.T) {
			landed := 0
			for i, delay := range []time.Duration{2, 5, 10, 20, 40, 80, 160, 320} {
				cmd := exec.Command(c.bin, append([]string{"--root", c.root}, op.args(i)...)...)
				if op.stdin != nil {
					cmd.Stdin = bytes.NewReader(op.stdin)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(delay * time.Millisecond)
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				if cmd.ProcessState.ExitCode() == -1 {
					landed++ // killed, not finished
				}
				// The store must answer at once, whatever state the kill left.
				c.ok("images")
				c.ok("system", "check")
			}
			t.Logf("%d of 8 kills landed before %s finished", landed, op.name)
			if landed == 0 {
				t.Errorf("no kill landed inside a %s", op.name)
			}
		})
	}
	c.ok("builder", "prune", "-f")
	if ents, _ := os.ReadDir(filepath.Join(c.root, "build", "tmp")); len(ents) != 0 {
		t.Errorf("builder prune left build/tmp entries of killed builds: %d", len(ents))
	}
	c.ok("inspect", "base:1")
	c.ok("image", "prune", "-f")
	left, _ := filepath.Glob(filepath.Join(c.root, "tmp", "*"))
	leases, _ := filepath.Glob(filepath.Join(c.root, "leases", "*"))
	if len(left) != 0 || len(leases) != 0 {
		t.Fatalf("prune left temp files %v and leases %v of killed processes", left, leases)
	}
	if _, err := os.Stat(filepath.Join(c.root, "index.json")); err != nil {
		t.Fatal(err)
	}
}

// TestStoreStress runs four berth processes at once on one store for a
// bounded time: builds (COPY and RUN), imports, loads, and tag, rmi, image
// prune and system prune, each in its own loop. Every single command must
// succeed (a build never fails because another process collected garbage),
// and the store must check clean with every kept reference intact.
func TestStoreStress(t *testing.T) {
	if testing.Short() {
		t.Skip("bounded load test")
	}
	const duration = 15 * time.Second
	c := newCLI(t)
	c.importImage("base:1", nil)
	// Archives to load, each a different image, made in another store.
	src := newCLI(t)
	var archives []string
	for k := range 3 {
		src.importImage(fmt.Sprintf("l:%d", k), map[string]string{"etc/l": fmt.Sprint("load ", k)})
		p := filepath.Join(t.TempDir(), "l.tar")
		src.ok("save", "-o", p, fmt.Sprintf("l:%d", k))
		archives = append(archives, p)
	}

	var mu sync.Mutex
	present := map[string]bool{} // name → kept (true) or removed (false)
	note := func(name string, kept bool) { mu.Lock(); present[name] = kept; mu.Unlock() }
	var ops atomic.Int64
	run := func(stdin []byte, args ...string) error {
		_, e, code := c.run(stdin, args...)
		ops.Add(1)
		if code != 0 {
			lines := strings.Split(strings.TrimSpace(e), "\n")
			return fmt.Errorf("berth %s: exit %d: %s", strings.Join(args, " "), code, strings.Join(lines[max(0, len(lines)-3):], " / "))
		}
		return nil
	}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	worker := func(step func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				if err := step(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// keepOrRemove keeps every third name and removes the others, so that
	// prune always has something to collect.
	keepOrRemove := func(i int, name string) error {
		if i%3 == 0 {
			note(name, true)
			return nil
		}
		note(name, false)
		return run(nil, "rmi", name)
	}
	worker(func(i int) error {
		dir := t.TempDir()
		df := "FROM base:1\nCOPY f /f\nRUN cat /f /f > /g\n"
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644)
		os.WriteFile(filepath.Join(dir, "f"), []byte(fmt.Sprint("build ", i)), 0o644)
		name := fmt.Sprintf("b:%d", i)
		if err := run(nil, "build", "-q", "-t", name, dir); err != nil {
			return err
		}
		return keepOrRemove(i, name)
	})
	worker(func(i int) error {
		name := fmt.Sprintf("imp:%d", i)
		if err := run(busyboxTar(t, map[string]string{"etc/i": fmt.Sprint("import ", i)}), "import", "-", name); err != nil {
			return err
		}
		return keepOrRemove(i, name)
	})
	worker(func(i int) error {
		k := i % len(archives)
		if err := run(nil, "load", "-q", "-i", archives[k]); err != nil {
			return err
		}
		return keepOrRemove(i, fmt.Sprintf("l:%d", k))
	})
	worker(func(i int) error {
		tag := fmt.Sprintf("t:%d", i)
		for _, args := range [][]string{{"tag", "base:1", tag}, {"image", "prune", "-f"}, {"rmi", tag}} {
			if err := run(nil, args...); err != nil {
				return err
			}
		}
		if i%3 == 2 {
			return run(nil, "system", "prune", "-f")
		}
		return nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d commands in %v", ops.Load(), duration)
	c.ok("system", "check")
	out := c.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
	for name, kept := range present {
		if got := strings.Contains(out, name+"\n"); got != kept {
			t.Errorf("%s: listed %v, want %v", name, got, kept)
		}
		if kept {
			c.ok("inspect", name)
		}
	}
	if !strings.Contains(out, "base:1\n") {
		t.Errorf("base:1 lost:\n%s", out)
	}
}
