package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/testenv"
)

// serveRegistry starts `berth registry serve` on a free loopback port and
// returns its host:port.
func serveRegistry(t *testing.T, bin string) string { return testenv.BerthRegistry(t, bin) }

// TestBuildPullsBaseAndPushes is the main job end to end: a base image
// pushed to berth's own registry, a build in an empty store whose FROM pulls
// it and whose --push sends the result back, and a pull of that result into
// a third store.
func TestBuildPullsBaseAndPushes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("RUN needs the sandbox; these tests run as root in CI")
	}
	producer := newCLI(t)
	reg := serveRegistry(t, producer.bin)
	producer.importImage(reg+"/base/busybox:1", nil, `CMD ["sh"]`)
	producer.ok("push", reg+"/base/busybox:1")

	builder := newCLI(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+reg+"/base/busybox:1\nRUN echo built > /stamp\nCMD [\"cat\", \"/stamp\"]\n"), 0o644)
	out, errs, code := builder.run(nil, "build", "--push", "-t", reg+"/app/demo:1", dir)
	if code != 0 {
		t.Fatalf("build --push: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "1: digest: sha256:") {
		t.Fatalf("push after build printed no digest line:\n%s", out)
	}

	consumer := newCLI(t)
	out = consumer.ok("pull", reg+"/app/demo:1")
	if !strings.Contains(out, "Status: Downloaded newer image for "+reg+"/app/demo:1") {
		t.Fatalf("pull output:\n%s", out)
	}
	if got := consumer.ok("inspect", "-f", "{{.Config.Cmd}}", reg+"/app/demo:1"); got != "[cat /stamp]\n" {
		t.Fatalf("pulled image config: %q", got)
	}
	consumer.ok("system", "check")
}

// TestBuildOutputsArchives checks that --output type=docker and type=oci
// write archives that berth load and skopeo read back as the built image.
func TestBuildOutputsArchives(t *testing.T) {
	skopeo := testenv.Peer(t, "skopeo")
	c := newCLI(t)
	c.importImage("base:1", nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM base:1\nCOPY hello /hello\nCMD [\"cat\", \"/hello\"]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "hello"), []byte("hi\n"), 0o644)
	for _, typ := range []string{"docker", "oci"} {
		t.Run(typ, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out.tar")
			c.ok("build", "-q", "-t", "out/"+typ+":1", "--output", "type="+typ+",dest="+dest, dir)
			other := newCLI(t)
			if out := other.ok("load", "-i", dest); !strings.Contains(out, "Loaded image: out/"+typ+":1") {
				t.Fatalf("load of the build output: %q", out)
			}
			if got := other.ok("inspect", "-f", "{{.Config.Cmd}}", "out/"+typ+":1"); got != "[cat /hello]\n" {
				t.Fatalf("loaded config: %q", got)
			}
			transport := "docker-archive:"
			if typ == "oci" {
				transport = "oci-archive:"
			}
			if out, err := exec.Command(skopeo, "inspect", "--raw", transport+dest).CombinedOutput(); err != nil {
				t.Fatalf("skopeo inspect %s%s: %v\n%s", transport, dest, err, out)
			}
		})
	}
}

// newRunCLI is a store with base:1 imported and a context whose Dockerfile
// RUNs one command on it, so a build leaves build cache behind.
func newRunCLI(t *testing.T) (*berthCLI, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("RUN needs the sandbox; these tests run as root in CI")
	}
	c := newCLI(t)
	c.importImage("base:1", nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM base:1\nRUN echo x > /x\n"), 0o644)
	return c, dir
}

// TestSystemPruneBuildCache: system prune -a reclaims the build cache a
// build left (unpacked layers, step records) unless a build is running, and
// the next build still works.
func TestSystemPruneBuildCache(t *testing.T) {
	c, dir := newRunCLI(t)
	c.ok("build", "-q", "-t", "app:1", dir)
	if df := c.ok("system", "df"); strings.Contains(df, "Build Cache     0 ") {
		t.Fatalf("no build cache after a build:\n%s", df)
	}
	// df -v lists the records it counts: the unpacked base layer and the
	// RUN step's cache record, the last-build record.
	_, cache, _ := strings.Cut(c.ok("system", "df", "-v"), "Build cache usage: ")
	if !strings.Contains(cache, " regular ") || !strings.Contains(cache, " internal ") {
		t.Fatalf("system df -v lists no build cache records:\n%s", cache)
	}

	// A running build holds the lock shared: prune leaves the cache alone.
	unlock, err := fsutil.LockShared(filepath.Join(c.root, "build", "build.lock"))
	if err != nil {
		t.Fatal(err)
	}
	_, errs, code := c.run(nil, "system", "prune", "-a", "-f")
	unlock()
	if code != 0 || !strings.Contains(errs, "a build is running") {
		t.Fatalf("prune during a build: exit %d, %q", code, errs)
	}
	snaps, _ := os.ReadDir(filepath.Join(c.root, "snapshots", "sha256"))
	if len(snaps) == 0 {
		t.Fatal("prune removed unpacked layers while a build held the lock")
	}

	c.importImage("base:1", nil)
	c.ok("build", "-q", "-t", "app:1", dir)
	out := c.ok("system", "prune", "-a", "-f")
	if strings.Contains(out, "Total reclaimed space: 0B") {
		t.Fatalf("system prune -a reclaimed nothing:\n%s", out)
	}
	if df := c.ok("system", "df"); !strings.Contains(df, "Build Cache     0         0         0B        0B") {
		t.Fatalf("build cache left after system prune -a:\n%s", df)
	}
	c.importImage("base:1", nil)
	c.ok("build", "-q", "-t", "app:1", dir)
	c.ok("system", "check")
}

// TestBuilderPrune: builder prune reclaims build cache and leaves images,
// as docker builder prune does; a second prune finds nothing.
func TestBuilderPrune(t *testing.T) {
	c, dir := newRunCLI(t)
	c.ok("image", "build", "-q", "-t", "app:1", dir)
	images := c.ok("images", "-q")
	out := c.ok("builder", "prune", "-a", "-f")
	if !strings.HasPrefix(out, "Total:\t") || strings.Contains(out, "Total:\t0B") {
		t.Fatalf("builder prune -a: %q", out)
	}
	if got := c.ok("images", "-q"); got != images {
		t.Fatalf("builder prune removed images: %q, was %q", got, images)
	}
	if out := c.ok("builder", "prune", "-a", "-f"); out != "Total:\t0B\n" {
		t.Fatalf("second builder prune: %q", out)
	}
	if _, errs, code := c.run(nil, "builder", "prune", "-f", "--keep-storage", "1g"); code != 125 || !strings.Contains(errs, "--keep-storage") {
		t.Fatalf("--keep-storage: exit %d %s", code, errs)
	}
	c.ok("builder", "build", "-q", "-t", "app:2", dir)
	c.ok("system", "check")
}
