package registry

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/registry/storage"
)

type testRegistry struct {
	t   testing.TB
	srv *httptest.Server
	s   *Server
	drv *storage.FS
}

func newTestRegistry(t testing.TB, opts Options) *testRegistry {
	t.Helper()
	drv, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if opts.Driver == nil {
		opts.Driver = drv
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &testRegistry{t: t, srv: srv, s: s, drv: drv}
}

type resp struct {
	code int
	h    http.Header
	body []byte
}

func (r resp) errCode() string {
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	json.Unmarshal(r.body, &e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// do sends a request; hdr is "Key: value" pairs.
func (tr *testRegistry) do(method, path string, body []byte, hdr ...string) resp {
	tr.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, tr.srv.URL+path, rd)
	if err != nil {
		tr.t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func sha256Of(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func sha512Of(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512:" + hex.EncodeToString(s[:])
}

// pushBlob uploads b with a single POST and returns its digest.
func (tr *testRegistry) pushBlob(repo string, b []byte) string {
	tr.t.Helper()
	d := sha256Of(b)
	r := tr.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d, b)
	if r.code != http.StatusCreated {
		tr.t.Fatalf("push blob: %d %s", r.code, r.body)
	}
	return d
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// imageManifest returns an OCI image manifest over config and layers.
func imageManifest(t testing.TB, mediaType string, config []byte, layers ...[]byte) []byte {
	t.Helper()
	cfgType := "application/vnd.oci.image.config.v1+json"
	layerType := "application/vnd.oci.image.layer.v1.tar"
	if mediaType == mtDockerManifest {
		cfgType = "application/vnd.docker.container.image.v1+json"
		layerType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaType,
		"config":        map[string]any{"mediaType": cfgType, "digest": sha256Of(config), "size": len(config)},
	}
	ls := []map[string]any{}
	for _, l := range layers {
		ls = append(ls, map[string]any{"mediaType": layerType, "digest": sha256Of(l), "size": len(l)})
	}
	m["layers"] = ls
	return mustJSON(t, m)
}

// pushImage pushes config, layers and the manifest under ref.
func (tr *testRegistry) pushImage(repo, ref string, config []byte, layers ...[]byte) (manifest []byte, digest string) {
	tr.t.Helper()
	tr.pushBlob(repo, config)
	for _, l := range layers {
		tr.pushBlob(repo, l)
	}
	m := imageManifest(tr.t, mtOCIManifest, config, layers...)
	r := tr.do("PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type: "+mtOCIManifest)
	if r.code != http.StatusCreated {
		tr.t.Fatalf("push manifest: %d %s", r.code, r.body)
	}
	return m, sha256Of(m)
}

func storageCond() storage.Cond { return storage.Cond{} }
