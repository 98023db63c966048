package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/registry/storage/s3"
	"github.com/berth-dev/berth/internal/registry/ui"
	"github.com/berth-dev/berth/internal/testenv"
)

// benchRegistry is the load: BERTH_UI_BENCH_REPOS (default 1,000)
// repositories of BERTH_UI_BENCH_TAGS (default 100) tags, each tag its own
// image (its own config: created time, labels, history) over two gzip
// layers the repository shares, plus BERTH_UI_BENCH_EXTRA (default 9,000)
// repositories of one tag, so that the catalog holds 10,000 names. It is
// pushed once per test binary through the registry's own API, in process.
// Put TMPDIR on tmpfs: the filesystem driver fsyncs every object.
var (
	benchOnce sync.Once
	benchDir  string // a temp dir, removed by TestMain
	keptDir   string // BERTH_UI_BENCH_DIR
	benchErr  error
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchStore(b *testing.B) string {
	benchOnce.Do(func() {
		// BERTH_UI_BENCH_DIR keeps the filled store for the next run (it is
		// filled when it has no "filled" marker yet) instead of a temp dir
		// removed at the end.
		dir := os.Getenv("BERTH_UI_BENCH_DIR")
		if dir != "" {
			if _, err := os.Stat(filepath.Join(dir, "filled")); err == nil {
				keptDir = dir
				return
			}
			benchErr = os.MkdirAll(dir, 0o755)
		} else {
			dir, benchErr = os.MkdirTemp("", "berth-ui-bench-")
			benchDir = dir
		}
		if benchErr != nil {
			return
		}
		start := time.Now()
		benchErr = benchFill(b, dir, envInt("BERTH_UI_BENCH_REPOS", 1000), envInt("BERTH_UI_BENCH_TAGS", 100), envInt("BERTH_UI_BENCH_EXTRA", 9000))
		b.Logf("filled in %s", time.Since(start).Round(time.Second))
		if benchErr == nil && os.Getenv("BERTH_UI_BENCH_DIR") != "" {
			keptDir = dir
			benchErr = os.WriteFile(filepath.Join(dir, "filled"), nil, 0o644)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	if keptDir != "" {
		return keptDir
	}
	return benchDir
}

type inproc struct{ h http.Handler }

func (c inproc) send(method, path, ctype string, body []byte) error {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		return fmt.Errorf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
	}
	return nil
}

func (c inproc) blob(name string, b []byte) (string, error) {
	d := sha(b)
	return d, c.send("POST", "/v2/"+name+"/blobs/uploads/?digest="+d, "application/octet-stream", b)
}

func benchFill(b *testing.B, dir string, repos, tags, extra int) error {
	drv, err := storage.NewFS(dir)
	if err != nil {
		return err
	}
	return benchFillDriver(b, drv, repos, tags, extra)
}

func benchFillDriver(b *testing.B, drv storage.Driver, repos, tags, extra int) error {
	srv, err := registry.New(registry.Options{Driver: drv})
	if err != nil {
		return err
	}
	c := inproc{srv}
	base := testenv.GzipLayer(b, "bench-base")
	app := testenv.GzipLayer(b, "bench-app")
	var layers []v1.Descriptor
	var layerBytes [][]byte
	for _, l := range []v1.Layer{base, app} {
		rc, _ := l.Compressed()
		data, _ := io.ReadAll(rc)
		layerBytes = append(layerBytes, data)
		layers = append(layers, v1.Descriptor{MediaType: types.OCILayer, Size: int64(len(data)), Digest: v1.Hash{Algorithm: "sha256", Hex: sha(data)[7:]}})
	}
	pushRepo := func(name string, ntags int) error {
		for _, lb := range layerBytes {
			if _, err := c.blob(name, lb); err != nil {
				return err
			}
		}
		for i := 0; i < ntags; i++ {
			tag := fmt.Sprintf("1.%d.%d", i/10, i%10)
			created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
			cfg := v1.ConfigFile{Architecture: "amd64", OS: "linux", Created: v1.Time{Time: created},
				RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{{Algorithm: "sha256", Hex: sha([]byte(name + "a"))[7:]}, {Algorithm: "sha256", Hex: sha([]byte(name + "b"))[7:]}}},
				Config: v1.Config{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, Cmd: []string{"/app", "--serve"}, User: "app",
					Labels: map[string]string{"org.opencontainers.image.version": tag, "org.opencontainers.image.source": "https://git.example/" + name}},
				History: []v1.History{{Created: v1.Time{Time: created}, CreatedBy: "ADD rootfs.tar /"}, {Created: v1.Time{Time: created}, CreatedBy: "COPY app /app"}}}
			cb, _ := json.Marshal(cfg)
			cd, err := c.blob(name, cb)
			if err != nil {
				return err
			}
			m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
				Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cb)), Digest: v1.Hash{Algorithm: "sha256", Hex: cd[7:]}}, Layers: layers}
			mb, _ := json.Marshal(m)
			if err := c.send("PUT", "/v2/"+name+"/manifests/"+tag, string(types.OCIManifestSchema1), mb); err != nil {
				return err
			}
		}
		return nil
	}
	g := new(errgroup.Group)
	g.SetLimit(4)
	for i := 0; i < repos; i++ {
		g.Go(func() error { return pushRepo(fmt.Sprintf("team-%02d/service-%04d", i%50, i), tags) })
	}
	for i := 0; i < extra; i++ {
		g.Go(func() error { return pushRepo(fmt.Sprintf("mirror/library-%05d", i), 1) })
	}
	return g.Wait()
}

// firstByte times one GET to its first response byte and reads the rest.
func firstByte(b *testing.B, client *http.Client, url string) (time.Duration, int) {
	var start, first time.Time
	req, _ := http.NewRequest("GET", url, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotFirstResponseByte: func() { first = time.Now() },
	}))
	start = time.Now()
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("GET %s: %s", url, resp.Status)
	}
	return first.Sub(start), int(n)
}

// BenchmarkPages reports each page's time to first byte (median and
// worst of b.N requests) and its size, over a real TCP connection, with
// the registry's caches warm as in steady serving; "cold" pages start a
// fresh server on the same storage each time (the first visit after a
// restart: every metadata object and manifest read from storage).
func BenchmarkPages(b *testing.B) {
	var drv storage.Driver
	if os.Getenv("BERTH_UI_BENCH_S3") == "1" {
		// The same pages on S3 (SeaweedFS on 127.0.0.1), on a smaller fill
		// by default: every object is a request to the store.
		sw := testenv.SharedSeaweedFS(b)
		d, err := s3.New(context.Background(), s3.Options{Bucket: sw.Bucket(b), Endpoint: sw.Endpoint, Region: sw.Region,
			PathStyle: true, AccessKey: sw.AccessKey, SecretKey: sw.SecretKey, PartSize: s3.MinPartSize})
		check(b, err)
		start := time.Now()
		check(b, benchFillDriver(b, d, envInt("BERTH_UI_BENCH_REPOS", 1000), envInt("BERTH_UI_BENCH_TAGS", 100), envInt("BERTH_UI_BENCH_EXTRA", 0)))
		b.Logf("filled S3 in %s", time.Since(start).Round(time.Second))
		drv = d
	} else {
		d, err := storage.NewFS(benchStore(b))
		check(b, err)
		drv = d
	}
	newSrv := func() *httptest.Server {
		srv, err := registry.New(registry.Options{Driver: drv, Pages: func(s *registry.Server) http.Handler { return ui.New(s, ui.Options{}) }})
		check(b, err)
		return httptest.NewServer(srv)
	}
	ts := newSrv()
	defer ts.Close()
	client := ts.Client()
	nrepos := envInt("BERTH_UI_BENCH_REPOS", 1000)
	ri := min(457, nrepos-1)
	repo := fmt.Sprintf("team-%02d/service-%04d", ri%50, ri)
	var dg string
	{
		req, _ := http.NewRequest("HEAD", ts.URL+"/v2/"+repo+"/manifests/1.0.5", nil)
		req.Header.Set("Accept", string(types.OCIManifestSchema1))
		resp, err := client.Do(req)
		check(b, err)
		resp.Body.Close()
		dg = resp.Header.Get("Docker-Content-Digest")
	}
	pages := []struct{ name, path string }{
		{"repositories", "/ui/"},
		{"repositories-page-50", "/ui/?p=50"},
		{"search", "/ui/?q=service-04"},
		{"repository-100-tags", "/ui/r/" + repo},
		{"tag", "/ui/r/" + repo + "/-/tag/1.0.5"},
		{"manifest", "/ui/r/" + repo + "/-/manifest/" + dg},
		{"dive", "/ui/r/" + repo + "/-/manifest/" + dg + "/dive"},
		{"delete-confirm", "/ui/r/" + repo + "/-/delete?ref=1.0.5"},
		// The same registry's API answers, for scale: what a client (or a
		// third-party UI over the API) gets for the same data.
		{"api-catalog-100", "/v2/_catalog?n=100"},
		{"api-tags-list", "/v2/" + repo + "/tags/list"},
	}
	measure := func(b *testing.B, url func(i int) string, fresh bool) {
		var times []time.Duration
		size := 0
		var cpu time.Duration
		for i := 0; b.Loop(); i++ {
			c, base := client, ts.URL
			var s *httptest.Server
			if fresh {
				b.StopTimer()
				s = newSrv()
				c, base = s.Client(), s.URL
				b.StartTimer()
			}
			c0 := cpuTime()
			d, n := firstByte(b, c, base+url(i))
			cpu += cpuTime() - c0
			if s != nil {
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			times = append(times, d)
			size = n
		}
		// CPU time of the whole process (server and client) during the
		// requests: what other jobs' load on this shared machine does not
		// inflate (a cold server's start is left out).
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(times)), "ms-cpu/op")
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-first-byte-p50")
		b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, "ms-first-byte-max")
		b.ReportMetric(float64(size)/1024, "KiB")
	}
	for _, p := range pages {
		firstByte(b, client, ts.URL+p.path) // warm the caches (and run the analysis once)
		b.Run(p.name, func(b *testing.B) { measure(b, func(int) string { return p.path }, false) })
	}
	// Cold: a repository never shown before on a server just started.
	b.Run("repository-100-tags-cold", func(b *testing.B) {
		measure(b, func(i int) string { return fmt.Sprintf("/ui/r/team-%02d/service-%04d", (i%nrepos)%50, i%nrepos) }, true)
	})
	b.Run("repositories-cold", func(b *testing.B) { measure(b, func(int) string { return "/ui/" }, true) })
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
