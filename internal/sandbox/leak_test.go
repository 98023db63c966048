package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// leakState is what a step could leave behind.
type leakState struct {
	mounts   int      // our mount namespace's mounts that involve the step's paths
	procs    []string // live sandbox processes (supervisor, init, commands)
	tempDirs int      // entries in the step's TempDir
}

// currentLeaks looks for what the steps could leave. Mounts are matched by
// path (temp dir, snapshot dir, cache, state dirs) because other programs on
// a shared machine mount and unmount things meanwhile.
func currentLeaks(t *testing.T, tmp, mark string, paths ...string) leakState {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var s leakState
	for _, line := range strings.Split(string(mi), "\n") {
		for _, p := range append([]string{tmp, "berth-run-"}, paths...) {
			if strings.Contains(line, p) {
				s.mounts++
				break
			}
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		environ, _ := os.ReadFile(filepath.Join("/proc", pid, "environ"))
		stat, _ := os.ReadFile(filepath.Join("/proc", pid, "stat"))
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			continue
		}
		// Only this test's steps: other programs may run sandboxes too.
		ours := bytes.HasPrefix(cmdline, []byte("berth-sandbox")) && bytes.Contains(cmdline, []byte(tmp))
		if ours || bytes.Contains(environ, []byte(mark)) {
			s.procs = append(s.procs, pid+":"+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	d, _ := os.ReadDir(tmp)
	s.tempDirs = len(d)
	return s
}

// signalWriter closes started on the first write.
type signalWriter struct {
	once    sync.Once
	started chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	return len(p), nil
}

// TestLeaks counts mounts, sandbox processes and temp dirs before and after
// steps that succeed, fail and are cancelled mid-run.
func TestLeaks(t *testing.T) {
	lowers := baseLowers(t)
	tmp := t.TempDir()
	mark := fmt.Sprintf("BERTH_LEAK_MARK=%d", time.Now().UnixNano())
	cache := filepath.Join(t.TempDir(), "cache")
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("x"), 0o600)
	mounts := []Mount{{Type: MountCache, Source: cache, Target: "/cache"}, {Type: MountSecret, Source: secret, Target: "/run/secrets/s"}, {Type: MountTmpfs, Target: "/scratch"}}
	paths := []string{filepath.Dir(lowers[0]), cache, secret}
	before := currentLeaks(t, tmp, mark, paths...)
	if len(before.procs) != 0 {
		t.Fatalf("sandbox processes before the test: %v", before.procs)
	}
	tests := []struct {
		name   string
		script string
		cancel bool
		check  func(error) bool
	}{
		{"success", "echo ok > /f", false, func(err error) bool { return err == nil }},
		{"failure", "sleep 100 & exit 3", false, func(err error) bool {
			var ee *ExitError
			return errors.As(err, &ee) && ee.Code == 3
		}},
		{"cancelled", "trap '' TERM INT; (sleep 1000 &); sleep 1000 & echo started; wait", true, func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &signalWriter{started: make(chan struct{})}
			if tc.cancel {
				go func() {
					select {
					case <-w.started:
						time.Sleep(50 * time.Millisecond)
					case <-time.After(20 * time.Second):
					}
					cancel()
				}()
			}
			start := time.Now()
			var layer bytes.Buffer
			err := Run(ctx, Spec{Lowers: lowers, Args: []string{"/bin/sh", "-c", tc.script}, Env: []string{mark}, Mounts: mounts, Stdout: w, TempDir: tmp}, &layer)
			if !tc.check(err) {
				t.Fatalf("Run returned %v", err)
			}
			if tc.cancel && time.Since(start) > 15*time.Second {
				t.Errorf("cancel took %v", time.Since(start))
			}
			after := currentLeaks(t, tmp, mark, paths...)
			if after.mounts != before.mounts || len(after.procs) != 0 || after.tempDirs != before.tempDirs {
				t.Errorf("left behind: mounts %d -> %d, processes %v, temp entries %d -> %d", before.mounts, after.mounts, after.procs, before.tempDirs, after.tempDirs)
			}
		})
	}
}

// TestSweep: a state dir left by a killed berth goes, a busy one stays.
func TestSweep(t *testing.T) {
	tmp := t.TempDir()
	stale := filepath.Join(tmp, statePrefix+"stale")
	busy := filepath.Join(tmp, statePrefix+"busy")
	other := filepath.Join(tmp, "unrelated")
	for _, d := range []string{stale + "/upper/x", busy + "/upper", other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(stale+"/upper/x", 0) // as a step may leave it
	f, err := os.Open(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := Sweep(context.Background(), tmp); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want bool
	}{{stale, false}, {busy, true}, {other, true}} {
		if _, err := os.Stat(c.path); (err == nil) != c.want {
			t.Errorf("%s exists=%v, want %v", c.path, err == nil, c.want)
		}
	}
}
