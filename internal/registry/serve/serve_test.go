package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
