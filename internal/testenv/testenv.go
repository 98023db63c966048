// Package testenv gives tests the real peers they run against (skopeo, umoci,
// the CNCF registry, busybox-static, buildah), a built berth binary, and
// small deterministic image fixtures (LayerTar, Layer, GzipLayer, Image). When
// BERTH_REQUIRE_PEERS=1 (set by scripts/test.sh, so always in CI) a missing
// peer fails the test instead of skipping it.
package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Peer returns the path of the named program, or skips/fails the test when
// it is not installed.
func Peer(t testing.TB, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/bin/" + name, "/usr/sbin/" + name, "/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("BERTH_REQUIRE_PEERS") == "1" {
		t.Fatalf("peer %s is not installed (scripts/test.sh installs it)", name)
	}
	t.Skipf("peer %s is not installed; run scripts/test.sh", name)
	return ""
}

// BusyboxStatic returns the path of Debian's static busybox, the base of every
// test image.
func BusyboxStatic(t testing.TB) string {
	t.Helper()
	return Peer(t, "busybox")
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Berth builds ./cmd/berth once per test binary and returns its path.
func Berth(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		// One directory per checkout, reused by every test binary, so test
		// runs leave nothing new in /tmp. Each binary builds into a temp
		// name and renames it into place, so concurrent packages never see
		// a half-written file.
		root := ModuleRoot(t)
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), "berth-test-bin-"+hex.EncodeToString(sum[:6]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		tmp := filepath.Join(dir, fmt.Sprintf("berth.%d", os.Getpid()))
		// Static, as shipped: tests run the binary users get.
		cmd := exec.Command("go", "build", "-o", tmp, "./cmd/berth")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			os.Remove(tmp)
			buildErr = &buildError{err: err, out: string(out)}
			return
		}
		buildPath = filepath.Join(dir, "berth")
		buildErr = os.Rename(tmp, buildPath)
	})
	if buildErr != nil {
		t.Fatalf("building berth: %v", buildErr)
	}
	return buildPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// ModuleRoot returns the repository root (where go.mod is).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
