package registry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestClientRoundTrip pushes and pulls images and an index with
// go-containerregistry's registry client.
func TestClientRoundTrip(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	host := strings.TrimPrefix(tr.srv.URL, "http://")
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(1024, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/client/img:v1")
	iref, _ := name.ParseReference(host + "/client/idx:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(iref, idx); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Fatalf("digest %s, want %s", d, want)
	}
	layers, _ := got.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		if d, _ := l.Digest(); sha256Of(buf.Bytes()) != d.String() {
			t.Fatalf("layer %s corrupt", d)
		}
	}
	gi, err := remote.Index(iref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := gi.Digest(); func() bool { w, _ := idx.Digest(); return d != w }() {
		t.Fatalf("index digest differs")
	}
	// Mounting between repositories: the second push uploads nothing.
	ref2, _ := name.ParseReference(host + "/client/copy:v1")
	if err := remote.Write(ref2, img); err != nil {
		t.Fatal(err)
	}
}

// TestCacheSeesOtherWriters: a second server over the same storage (another
// process, or `berth registry gc`) changes tags; the first never serves the
// stale digest.
func TestCacheSeesOtherWriters(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	other, err := New(Options{Driver: tr.drv})
	if err != nil {
		t.Fatal(err)
	}
	osrv := httptest.NewServer(other)
	defer osrv.Close()
	otr := &testRegistry{t: t, srv: osrv, s: other, drv: tr.drv}
	_, d1 := tr.pushImage("r", "latest", []byte(`{"n":1}`))
	if r := tr.do("GET", "/v2/r/manifests/latest", nil); r.h.Get("Docker-Content-Digest") != d1 {
		t.Fatal("first read")
	}
	_, d2 := otr.pushImage("r", "latest", []byte(`{"n":2}`))
	if r := tr.do("GET", "/v2/r/manifests/latest", nil); r.h.Get("Docker-Content-Digest") != d2 {
		t.Fatalf("stale tag served: %s, want %s", r.h.Get("Docker-Content-Digest"), d2)
	}
	otr.do("DELETE", "/v2/r/manifests/latest", nil)
	if r := tr.do("GET", "/v2/r/manifests/latest", nil); r.code != 404 {
		t.Fatalf("deleted tag served: %d", r.code)
	}
}

func TestMetricsAndAccessLog(t *testing.T) {
	var logs bytes.Buffer
	tr := newTestRegistry(t, Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	tr.do("GET", "/v2/", nil)
	tr.do("GET", "/v2/nope/manifests/latest", nil)
	m := tr.do("GET", "/metrics", nil)
	for _, want := range []string{
		`berth_registry_http_requests_total{code="200",method="GET",route="ping"} 1`,
		`berth_registry_http_requests_total{code="404",method="GET",route="manifest"} 1`,
		`berth_registry_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("log: %q", logs.String())
	}
	var entry struct {
		Msg, ID, Method, Path string
		Status                int
	}
	if err := json.Unmarshal([]byte(lines[1]), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Msg != "request" || entry.ID == "" || entry.Status != 404 || entry.Path != "/v2/nope/manifests/latest" {
		t.Fatalf("%+v", entry)
	}
}
