package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/registry/config"
)

// started is a Run in this process, with the addresses it logged.
type started struct {
	addr, debug string
	logs        chan map[string]any
}

func start(t *testing.T, yml string) *started {
	t.Helper()
	c, err := config.Parse([]byte(yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = "127.0.0.1:0"
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Config: c, DefaultRoot: t.TempDir(), Stderr: pw}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
		pw.Close()
	})
	s := &started{logs: make(chan map[string]any, 100)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case s.logs <- m:
				default:
				}
			}
		}
	}()
	deadline := time.After(10 * time.Second)
	for s.addr == "" || (c.HTTP.Debug.Addr != "" && s.debug == "") {
		select {
		case m := <-s.logs:
			switch m["msg"] {
			case "listening":
				s.addr = m["addr"].(string)
			case "debug server listening":
				s.debug = m["addr"].(string)
			}
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-deadline:
			t.Fatal("no listening line")
		}
	}
	return s
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func TestHTTPSettings(t *testing.T) {
	s := start(t, `
http:
  addr: 127.0.0.1:0
  prefix: /reg/
  headers:
    X-Content-Type-Options: [nosniff]
  debug:
    addr: 127.0.0.1:0
    prometheus: {enabled: true, path: /m}
`)
	base := "http://" + s.addr
	res, _ := get(t, base+"/reg/v2/")
	if res.StatusCode != 200 || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("ping under the prefix: %d %v", res.StatusCode, res.Header)
	}
	if res, _ := get(t, base+"/v2/"); res.StatusCode != 404 {
		t.Fatalf("ping outside the prefix: %d", res.StatusCode)
	}
	// Locations carry the prefix, so clients come back under it.
	req, _ := http.NewRequest("POST", base+"/reg/v2/app/blobs/uploads/", nil)
	up, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	up.Body.Close()
	if loc := up.Header.Get("Location"); up.StatusCode != 202 || !strings.HasPrefix(loc, "/reg/v2/app/blobs/uploads/") {
		t.Fatalf("upload: %d Location %q", up.StatusCode, loc)
	}
	// Metrics and pprof are on the debug address only, with registry:2's names.
	if res, _ := get(t, base+"/reg/metrics"); res.StatusCode == 200 {
		t.Fatal("metrics on the public port")
	}
	res, body := get(t, "http://"+s.debug+"/m")
	if res.StatusCode != 200 || !strings.Contains(body, `registry_http_requests_total{code="200",handler="base",method="GET"}`) ||
		!strings.Contains(body, `registry_http_request_duration_seconds_bucket{handler="blob_upload",method="POST"`) {
		t.Fatalf("debug metrics: %d\n%s", res.StatusCode, body)
	}
	if res, _ := get(t, "http://"+s.debug+"/debug/pprof/"); res.StatusCode != 200 {
		t.Fatalf("pprof: %d", res.StatusCode)
	}
}

// TestHealthGate: a failing health check (here a file checker: the file
// exists) turns every request into 503, as registry:2's gate does, and the
// registry answers again once it passes.
func TestHealthGate(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "down")
	os.WriteFile(flag, nil, 0o644)
	s := start(t, "health:\n  file:\n    - {file: "+flag+", interval: 50ms}\n")
	wait := func(want int) {
		t.Helper()
		for i := 0; ; i++ {
			res, body := get(t, "http://"+s.addr+"/v2/")
			if res.StatusCode == want {
				if want == 503 && !strings.Contains(body, flag) {
					t.Fatalf("503 without the failing check: %s", body)
				}
				return
			}
			if i == 100 {
				t.Fatalf("status %d, want %d", res.StatusCode, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait(503)
	os.Remove(flag)
	wait(200)
}

// TestHealthStorageDriver: health.storagedriver probes the storage as
// registry:2 does; storage that fails (here a root directory turned into a
// link to itself) gates the registry with 503 naming storagedriver_filesystem, and
// it answers again once the storage is back.
func TestHealthStorageDriver(t *testing.T) {
	root := filepath.Join(t.TempDir(), "reg")
	must(t, os.Mkdir(root, 0o755))
	s := start(t, "storage:\n  filesystem: {rootdirectory: "+root+"}\nhealth:\n  storagedriver: {enabled: true, interval: 50ms, threshold: 1}\n")
	wait := func(want int) {
		t.Helper()
		for i := 0; ; i++ {
			res, body := get(t, "http://"+s.addr+"/v2/")
			if res.StatusCode == want {
				if want == 503 && !strings.Contains(body, "storagedriver_filesystem") {
					t.Fatalf("503 without the failing check: %s", body)
				}
				return
			}
			if i == 200 {
				t.Fatalf("status %d, want %d", res.StatusCode, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait(200)
	must(t, os.RemoveAll(root))
	must(t, os.Symlink(root, root)) // ELOOP: an error, not "not found"
	wait(503)
	must(t, os.Remove(root))
	must(t, os.Mkdir(root, 0o755))
	wait(200)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func post(t *testing.T, url, ct string, body []byte) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return doReq(t, req)
}

func doReq(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func put(t *testing.T, url, ct string, body []byte) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	return doReq(t, req)
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// TestNotifications: registry:2's webhooks. The endpoint refuses the first
// deliveries (the registry retries, backing off after the threshold), then
// takes them: push events for a blob and a tagged manifest with its
// references, a delete event, no pull event (ignored by action), with the
// endpoint's headers and registry:2's envelope and media type.
func TestNotifications(t *testing.T) {
	type delivery struct {
		auth, ct string
		events   []map[string]any
	}
	got := make(chan delivery, 100)
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var env struct{ Events []map[string]any }
		json.NewDecoder(r.Body).Decode(&env)
		got <- delivery{r.Header.Get("Authorization"), r.Header.Get("Content-Type"), env.Events}
	}))
	defer hook.Close()
	s := start(t, `
http: {prefix: /reg}
notifications:
  events: {includereferences: true}
  endpoints:
    - name: hook
      url: `+hook.URL+`
      headers: {Authorization: [Bearer s3cret]}
      timeout: 1s
      threshold: 2
      backoff: 100ms
      ignore: {actions: [pull]}
`)
	base := "http://" + s.addr + "/reg"
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	if res, b := post(t, base+"/v2/app/blobs/uploads/?digest="+digest(cfg), "", cfg); res.StatusCode != 201 {
		t.Fatalf("blob: %d %s", res.StatusCode, b)
	}
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digest(cfg) + `","size":` + fmt.Sprint(len(cfg)) + `},"layers":[]}`)
	if res, b := put(t, base+"/v2/app/manifests/v1", "application/vnd.oci.image.manifest.v1+json", m); res.StatusCode != 201 {
		t.Fatalf("manifest: %d %s", res.StatusCode, b)
	}
	get(t, base+"/v2/app/manifests/v1")
	req, _ := http.NewRequest("DELETE", base+"/v2/app/manifests/"+digest(m), nil)
	doReq(t, req)

	var events []map[string]any
	deadline := time.After(10 * time.Second)
	for len(events) < 3 {
		select {
		case d := <-got:
			if d.auth != "Bearer s3cret" || d.ct != "application/vnd.docker.distribution.events.v2+json" {
				t.Fatalf("delivery headers %q %q", d.auth, d.ct)
			}
			events = append(events, d.events...)
		case <-deadline:
			t.Fatalf("%d events delivered in 10s (%d calls)", len(events), calls.Load())
		}
	}
	if calls.Load() < 4 {
		t.Fatalf("no retry: %d calls", calls.Load())
	}
	want := []struct{ action, mediaType, digest, tag string }{
		{"push", "application/octet-stream", digest(cfg), ""},
		{"push", "application/vnd.oci.image.manifest.v1+json", digest(m), "v1"},
		{"delete", "", digest(m), ""},
	}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d (a pull event slipped through?): %v", len(events), len(want), events)
	}
	for i, w := range want {
		e := events[i]
		target := e["target"].(map[string]any)
		if e["action"] != w.action || target["digest"] != w.digest || target["repository"] != "app" ||
			(w.mediaType != "" && target["mediaType"] != w.mediaType) || (w.tag != "" && target["tag"] != w.tag) {
			t.Errorf("event %d: %v", i, e)
		}
		req := e["request"].(map[string]any)
		if e["id"] == "" || e["timestamp"] == nil || req["method"] == "" || req["id"] == "" || e["source"].(map[string]any)["instanceID"] == "" {
			t.Errorf("event %d lacks registry:2's records: %v", i, e)
		}
	}
	mt := events[1]["target"].(map[string]any)
	if u, _ := mt["url"].(string); !strings.HasPrefix(u, "http://"+s.addr+"/reg/v2/app/manifests/sha256:") {
		t.Errorf("manifest url %q", u)
	}
	if refs, _ := mt["references"].([]any); len(refs) != 1 {
		t.Errorf("references %v", mt["references"])
	}
}

// TestManifestValidation: validation.manifests.urls allows foreign layer
// URLs by pattern and refuses the rest; validation.manifests.indexes
// (platforms: all) refuses an index whose children are not pushed.
func TestManifestValidation(t *testing.T) {
	s := start(t, `
validation:
  manifests:
    urls:
      allow: ['^https://foreign\.example/']
      deny: ['/blocked/']
    indexes: {platforms: all}
`)
	base := "http://" + s.addr
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	post(t, base+"/v2/app/blobs/uploads/?digest="+digest(cfg), "", cfg)
	foreign := func(u string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digest(cfg) + `","size":` + fmt.Sprint(len(cfg)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"sha256:` + strings.Repeat("ab", 32) + `","size":10,"urls":["` + u + `"]}]}`)
	}
	const mt = "application/vnd.oci.image.manifest.v1+json"
	for _, tc := range []struct {
		url  string
		code int
	}{
		{"https://foreign.example/layer.tgz", 201},
		{"https://foreign.example/blocked/layer.tgz", 400},
		{"https://elsewhere.example/layer.tgz", 400},
		{"ftp://foreign.example/layer.tgz", 400},
	} {
		if res, b := put(t, base+"/v2/app/manifests/x", mt, foreign(tc.url)); res.StatusCode != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.url, res.StatusCode, b, tc.code)
		}
	}
	child := foreign("https://foreign.example/layer.tgz")
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"` + mt + `","digest":"` + digest(child) + `","size":` + fmt.Sprint(len(child)) + `,"platform":{"architecture":"amd64","os":"linux"}}]}`)
	if res, b := put(t, base+"/v2/other/manifests/i", "application/vnd.oci.image.index.v1+json", idx); res.StatusCode != 400 || !strings.Contains(b, "MANIFEST_BLOB_UNKNOWN") {
		t.Fatalf("index before its child: %d %s", res.StatusCode, b)
	}
	post(t, base+"/v2/other/blobs/uploads/?digest="+digest(cfg), "", cfg)
	put(t, base+"/v2/other/manifests/"+digest(child), mt, child)
	if res, b := put(t, base+"/v2/other/manifests/i", "application/vnd.oci.image.index.v1+json", idx); res.StatusCode != 201 {
		t.Fatalf("index after its child: %d %s", res.StatusCode, b)
	}

	// Without a validation section, berth's own rules: any URL, sparse indexes.
	s2 := start(t, "")
	post(t, "http://"+s2.addr+"/v2/app/blobs/uploads/?digest="+digest(cfg), "", cfg)
	if res, b := put(t, "http://"+s2.addr+"/v2/app/manifests/x", mt, foreign("https://elsewhere.example/l")); res.StatusCode != 201 {
		t.Fatalf("default rules: %d %s", res.StatusCode, b)
	}
	if res, b := put(t, "http://"+s2.addr+"/v2/app/manifests/i", "application/vnd.oci.image.index.v1+json", idx); res.StatusCode != 201 {
		t.Fatalf("sparse index by default: %d %s", res.StatusCode, b)
	}
}
