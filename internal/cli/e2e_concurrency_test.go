package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// TestKillNineLeavesUsableStore kills importing processes at arbitrary
// moments and checks that the next commands use the store without repair.
func TestKillNineLeavesUsableStore(t *testing.T) {
	c := newCLI(t)
	c.importImage("base:1", nil)
	big := busyboxTar(t, map[string]string{"big": strings.Repeat("x", 8<<20)})
	for i, delay := range []time.Duration{2, 5, 10, 20, 40, 80} {
		cmd := exec.Command(c.bin, "--root", c.root, "import", "-", fmt.Sprintf("k:%d", i))
		cmd.Stdin = bytes.NewReader(big)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// The store must answer at once, whatever state the kill left.
		c.ok("images")
		c.ok("system", "check")
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
