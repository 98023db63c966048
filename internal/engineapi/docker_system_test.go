package engineapi_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDockerCLISystemPrune: docker system prune -a walks the container,
// network and (empty) prunes to the image and build-cache ones.
func TestDockerCLISystemPrune(t *testing.T) {
	s := startService(t)
	s.importImage("busybox:latest", nil)
	s.importImage("", map[string]string{"etc/x": "x"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo built > /b\n"), 0o644)
	s.dockerOK("build", "-t", "b:1", dir)
	if snaps, _ := filepath.Glob(filepath.Join(s.root, "snapshots", "sha256", "*")); len(snaps) == 0 {
		t.Fatal("the build left no build cache to prune")
	}
	out := s.dockerOK("system", "prune", "-a", "-f")
	for _, want := range []string{"Deleted Images:", "untagged: busybox:latest", "untagged: b:1", "deleted: sha256:", "Total reclaimed space:"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker system prune -a -f lacks %q:\n%s", want, out)
		}
	}
	if got := s.berthOK("images", "-q"); got != "" {
		t.Errorf("images left: %q", got)
	}
	if snaps, _ := filepath.Glob(filepath.Join(s.root, "snapshots", "sha256", "*")); len(snaps) != 0 {
		t.Errorf("build cache left: %v", snaps)
	}
	if out := s.berthOK("system", "check"); !strings.HasPrefix(out, "OK: 0 blobs") {
		t.Errorf("system check after prune: %s", out)
	}
	sameOutput(t, s, "system", "df")
}

// TestConcurrentClients: several docker clients at once — listing,
// inspecting, saving, building and tagging — all succeed.
func TestConcurrentClients(t *testing.T) {
	s := startService(t)
	s.importImage("busybox:latest", nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo x > /x\n"), 0o644)
	// The saves write somewhere else than the build context: docker save -o
	// writes through a ".tmp-<name>" file beside its output (moby's
	// atomicwriter), and a docker build whose context directory grows
	// while the CLI tars it sends a broken context, as with dockerd.
	saves := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	run := func(args ...string) {
		defer wg.Done()
		if r := s.docker(nil, args...); r.Code != 0 {
			errs <- fmt.Sprintf("docker %s: %d %s", strings.Join(args, " "), r.Code, r.Stderr)
		}
	}
	for i := 0; i < 4; i++ {
		wg.Add(5)
		go run("images")
		go run("inspect", "busybox")
		go run("save", "-o", filepath.Join(saves, fmt.Sprintf("s%d.tar", i)), "busybox")
		go run("tag", "busybox", fmt.Sprintf("copy:%d", i))
		go run("build", "-q", "-t", fmt.Sprintf("c%d:1", i), dir)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := strings.Count(s.berthOK("images"), "\n"); got != 1+1+4+4 {
		t.Errorf("%d image rows after the concurrent clients:\n%s", got-1, s.berthOK("images"))
	}
	if out := s.berthOK("system", "check"); !strings.HasPrefix(out, "OK:") {
		t.Errorf("system check: %s", out)
	}
}

// TestPullClientGoesAway: a client that disconnects mid-pull cancels it;
// the image is not recorded, the store checks clean, and the next pull
// completes (continuing the download berth keeps for resuming).
func TestPullClientGoesAway(t *testing.T) {
	s := startService(t)
	reg := startRegistry(t, s, false)
	big := make([]byte, 8<<20)
	rand.Read(big)
	s.importImage("big:1", map[string]string{"big.bin": string(big)})
	s.berthOK("tag", "big:1", reg+"/big:1")
	s.berthOK("push", reg+"/big:1")
	s.berthOK("rmi", "-f", "big:1", reg+"/big:1")

	// The registry's blobs come slowly through this proxy: the client
	// leaves while the layer is on its way.
	u, _ := url.Parse("http://" + reg)
	rp := httputil.NewSingleHostReverseProxy(u)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") && r.Method == http.MethodGet {
			rp.ServeHTTP(&slowWriter{ResponseWriter: w}, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer slow.Close()
	host := strings.TrimPrefix(slow.URL, "http://")

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://berth/v1.50/images/create?fromImage="+host+"/big&tag=1", nil)
	resp, err := s.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"Downloading"`) {
			break
		}
	}
	cancel()
	resp.Body.Close()
	time.Sleep(500 * time.Millisecond)
	if r := s.berthRun(nil, "inspect", host+"/big:1"); r.Code == 0 {
		t.Error("the cancelled pull recorded the image")
	}
	if out := s.berthOK("system", "check"); !strings.HasPrefix(out, "OK:") {
		t.Errorf("system check after a cancelled pull: %s", out)
	}
	if tmp, _ := os.ReadDir(filepath.Join(s.root, "tmp")); len(tmp) != 0 {
		t.Errorf("store temp files left: %d", len(tmp))
	}
	// The same pull, straight from the registry, finishes.
	out := s.dockerOK("pull", reg+"/big:1")
	if !strings.Contains(out, "Status: Downloaded newer image") {
		t.Errorf("pull after the cancelled one:\n%s", out)
	}
}

// slowWriter lets a blob through at about 256 KiB/s.
type slowWriter struct{ http.ResponseWriter }

func (w *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		c := min(len(b), 32<<10)
		m, err := w.ResponseWriter.Write(b[:c])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[c:]
		time.Sleep(125 * time.Millisecond)
	}
	return n, nil
}

// TestDockerCLISystemDfBuildCache: after a build, docker system df and
// df -v through the service list the build cache berth keeps (the unpacked
// base layer, the RUN step's cache record, the last-build record) exactly
// as berth system df prints it, and a prune empties both.
func TestDockerCLISystemDfBuildCache(t *testing.T) {
	s := startService(t)
	s.importImage("busybox:latest", nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo cached > /c\n"), 0o644)
	s.dockerOK("build", "-t", "c:1", dir)
	sameOutput(t, s, "system", "df")
	sameOutput(t, s, "system", "df", "-v")
	out := s.dockerOK("system", "df", "-v")
	_, section, _ := strings.Cut(out, "Build cache usage: ")
	rows := strings.Split(strings.TrimSpace(section), "\n")
	if strings.HasPrefix(section, "0B") || len(rows) < 5 {
		t.Fatalf("docker system df -v shows no build cache records:\n%s", out)
	}
	for _, typ := range []string{" regular ", " internal "} {
		if !strings.Contains(section, typ) {
			t.Errorf("no %q record in:\n%s", typ, section)
		}
	}
	s.dockerOK("builder", "prune", "-a", "-f")
	if out := s.dockerOK("system", "df", "-v"); !strings.Contains(out, "Build cache usage: 0B") {
		t.Errorf("after docker builder prune -a:\n%s", out)
	}
	sameOutput(t, s, "system", "df", "-v")
}
