package ui_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/auth/authtest"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/registry/ui"
	"github.com/berth-dev/berth/internal/testenv"
)

// pusher fills a registry through its own /v2/ API, as a client would.
type pusher struct {
	t        testing.TB
	base     string
	user, pw string
	bearer   string
	client   *http.Client
}

func (p *pusher) do(method, path, ctype string, body []byte, hdr ...string) *http.Response {
	p.t.Helper()
	req, err := http.NewRequest(method, p.base+path, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if p.user != "" {
		req.SetBasicAuth(p.user, p.pw)
	}
	if p.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+p.bearer)
	}
	c := p.client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp
}

// tokenRegistry is a registry with token auth and an admin (every action on
// the fixture's repositories and the catalog) that has filled it.
func tokenRegistry(t testing.TB) (*httptest.Server, *authtest.Issuer, *pusher, fixture) {
	t.Helper()
	is := authtest.NewIssuer(t, "issuer", "registry.test")
	v, err := auth.NewTokenVerifier(is.Name, is.Service, is.Bundle)
	check(t, err)
	ts, _ := newServer(t, fsDriver(t), registry.Options{Token: v, TokenRealm: "http://127.0.0.1:1/token", TokenService: is.Service})
	all := []auth.Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}
	for _, n := range []string{"library/busybox", "team/app", "evil/repo", longName} {
		all = append(all, auth.Access{Type: "repository", Name: n, Actions: []string{"pull", "push", "delete"}})
	}
	admin := &pusher{t: t, base: ts.URL, bearer: is.Mint(t, authtest.Token{Subject: "admin", Access: all})}
	f := fill(t, admin)
	return ts, is, admin, f
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// blob pushes b in one monolithic POST and returns its digest.
func (p *pusher) blob(name string, b []byte) string {
	p.t.Helper()
	d := sha(b)
	resp := p.do("POST", "/v2/"+name+"/blobs/uploads/?digest="+d, "application/octet-stream", b)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		p.t.Fatalf("blob push to %s: %s", name, resp.Status)
	}
	return d
}

// manifest PUTs body under ref (a tag or its digest) and returns its digest.
func (p *pusher) manifest(name, ref, mt string, body []byte) string {
	p.t.Helper()
	d := sha(body)
	if ref == "" {
		ref = d
	}
	resp := p.do("PUT", "/v2/"+name+"/manifests/"+ref, mt, body)
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		p.t.Fatalf("manifest push %s:%s: %s %s", name, ref, resp.Status, msg)
	}
	return d
}

// image pushes img's blobs and its manifest under the tags; "" tags push by
// digest only.
func (p *pusher) image(name string, img v1.Image, tags ...string) string {
	p.t.Helper()
	cfg, err := img.RawConfigFile()
	check(p.t, err)
	p.blob(name, cfg)
	layers, err := img.Layers()
	check(p.t, err)
	for _, l := range layers {
		rc, err := l.Compressed()
		check(p.t, err)
		b, err := io.ReadAll(rc)
		check(p.t, err)
		p.blob(name, b)
	}
	raw, err := img.RawManifest()
	check(p.t, err)
	mt, err := img.MediaType()
	check(p.t, err)
	var d string
	if len(tags) == 0 {
		tags = []string{""}
	}
	for _, tag := range tags {
		d = p.manifest(name, tag, string(mt), raw)
	}
	return d
}

// artifact pushes an OCI artifact manifest whose subject is subject (a
// signature, an SBOM) with the given annotations.
func (p *pusher) artifact(name, artifactType string, subject string, subjectSize int64, payload []byte, ann map[string]string) string {
	p.t.Helper()
	empty := []byte("{}")
	p.blob(name, empty)
	ld := p.blob(name, payload)
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"artifactType":  artifactType,
		"config":        map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(empty), "size": 2},
		"layers":        []any{map[string]any{"mediaType": "application/octet-stream", "digest": ld, "size": len(payload)}},
		"subject":       map[string]any{"mediaType": types.OCIManifestSchema1, "digest": subject, "size": subjectSize},
		"annotations":   ann,
	}
	body, _ := json.Marshal(m)
	return p.manifest(name, "", string(types.OCIManifestSchema1), body)
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// labeled is testenv's image with a config changed by fn (labels, user,
// entrypoint, history).
func labeled(t testing.TB, platform string, seed string, fn func(*v1.ConfigFile)) v1.Image {
	t.Helper()
	img := testenv.Image(t, platform, testenv.GzipLayer(t, seed+"-base"), testenv.GzipLayer(t, seed+"-app"))
	cfg, err := img.ConfigFile()
	check(t, err)
	cfg = cfg.DeepCopy()
	cfg.History = []v1.History{
		{Created: cfg.Created, CreatedBy: "/bin/sh -c #(nop) ADD file:base in / "},
		{Created: cfg.Created, CreatedBy: "/bin/sh -c #(nop)  ENV PATH=/bin", EmptyLayer: true},
		{Created: cfg.Created, CreatedBy: "RUN /bin/sh -c make install # buildkit"},
	}
	if fn != nil {
		fn(cfg)
	}
	img, err = mutate.ConfigFile(img, cfg)
	check(t, err)
	return img
}

// hostile values: markup and script that must show as text, and a value
// far longer than any screen.
var (
	hostileLabel = `<script>alert("label")</script>`
	hostileAttr  = `"><img src=x onerror=alert('attr')>`
	longValue    = strings.Repeat("very-long-value-", 640) // 10 KiB
	// longName is a valid repository name of 200 characters.
	longName = strings.Repeat("deep/", 39) + "leaf"
)

// fixture is what fill pushed, for the checks.
type fixture struct {
	busybox, app, amd64, arm64, sig, sbom string
	hostile                               string
}

// fill pushes the test's registry content: a plain image with two tags, a
// two-platform index with a signature and an SBOM referring to one of its
// images, an image with hostile labels, and a repository with a very long
// name.
func fill(t testing.TB, p *pusher) fixture {
	t.Helper()
	var f fixture
	bb := labeled(t, "linux/amd64", "busybox", func(c *v1.ConfigFile) {
		c.Config.Entrypoint = []string{"/bin/sh", "-c"}
		c.Config.Cmd = []string{"echo hello"}
		c.Config.User = "1000:1000"
		c.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
		c.Config.Labels = map[string]string{"org.opencontainers.image.title": "busybox"}
	})
	f.busybox = p.image("library/busybox", bb, "latest", "1.36")

	amd := labeled(t, "linux/amd64", "app-amd64", nil)
	arm := labeled(t, "linux/arm64/v8", "app-arm64", nil)
	f.amd64 = p.image("team/app", amd)
	f.arm64 = p.image("team/app", arm)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	raw, err := idx.RawManifest()
	check(t, err)
	f.app = p.manifest("team/app", "v2", string(types.OCIImageIndex), raw)
	amdRaw, _ := amd.RawManifest()
	f.sig = p.artifact("team/app", "application/vnd.dev.cosign.artifact.sig.v1+json", f.amd64, int64(len(amdRaw)),
		[]byte("signature"), map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQ" + hostileAttr})
	f.sbom = p.artifact("team/app", "application/spdx+json", f.amd64, int64(len(amdRaw)),
		[]byte(`{"spdxVersion":"SPDX-2.3"}`), map[string]string{"org.opencontainers.image.created": "2026-12-04T00:00:00Z"})

	hostile := labeled(t, "linux/amd64", "hostile", func(c *v1.ConfigFile) {
		c.Config.Labels = map[string]string{"evil": hostileLabel, "attr": hostileAttr, "long": longValue, hostileLabel: "key"}
		c.Config.Env = []string{"PATH=/bin", "X=" + hostileLabel}
		c.History[2].CreatedBy = "RUN echo '" + hostileLabel + "' && " + longValue
	})
	f.hostile = p.image("evil/repo", hostile, "x-"+strings.Repeat("t", 126))
	p.image(longName, bb, "latest")
	return f
}

// newServer starts a registry with the pages on drv; auth may be nil.
func newServer(t testing.TB, drv storage.Driver, opts registry.Options) (*httptest.Server, *registry.Server) {
	t.Helper()
	opts.Driver = drv
	opts.Pages = func(s *registry.Server) http.Handler { return ui.New(s, ui.Options{}) }
	srv, err := registry.New(opts)
	check(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts, srv
}

func fsDriver(t testing.TB) storage.Driver {
	t.Helper()
	d, err := storage.NewFS(t.TempDir())
	check(t, err)
	return d
}

// htpasswdAuth writes an htpasswd file with the users and returns berth's
// verifier over it.
func htpasswdAuth(t testing.TB, users map[string]string) registry.Authenticator {
	t.Helper()
	var buf []byte
	for u, pw := range users {
		h, err := auth.HashPassword(pw, 4)
		check(t, err)
		buf, err = auth.SetUser(buf, u, h)
		check(t, err)
	}
	path := t.TempDir() + "/htpasswd"
	check(t, os.WriteFile(path, buf, 0o600))
	v, err := auth.NewVerifier(path, auth.Options{})
	check(t, err)
	return v
}
