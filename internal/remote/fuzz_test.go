package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// memSink keeps pulled blobs in memory, verifying each as the store does.
type memSink struct {
	mu    sync.Mutex
	blobs map[v1.Hash][]byte
}

func (m *memSink) HasBlob(h v1.Hash) bool { m.mu.Lock(); defer m.mu.Unlock(); return m.blobs[h] != nil }

func (m *memSink) WriteBlob(ctx context.Context, h v1.Hash, size int64, r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 8<<20))
	if err != nil {
		return err
	}
	if sha(b) != h.String() || (size >= 0 && int64(len(b)) != size) {
		return fmt.Errorf("blob %s does not match", h)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[h] = b
	return nil
}

// fuzzRegistry serves one repository whose answers the fuzzer writes: the
// tag is served, "CHILD" in it replaced by the digest of manifest (so an
// index can name a child that exists), the child at that digest, and
// config at any blob path ("CONFIG" in the manifest names its digest).
type fuzzRegistry struct {
	mu                      sync.Mutex
	tag, manifest, config   []byte
	tagType, manifestType   string
	tokenBody               []byte
	bearer                  bool
	srv                     *httptest.Server
	manifestsServed, tokens int
}

func (f *fuzzRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/token" {
		f.tokens++
		w.Write(f.tokenBody)
		return
	}
	if f.bearer && r.Header.Get("Authorization") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+f.srv.URL+`/token",service="fuzz"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == "/v2/":
		w.WriteHeader(http.StatusOK)
	case r.URL.Path == "/v2/r/manifests/t":
		f.manifestsServed++
		w.Header().Set("Content-Type", f.tagType)
		w.Write(f.tag)
	case strings.HasPrefix(r.URL.Path, "/v2/r/manifests/sha256:"):
		w.Header().Set("Content-Type", f.manifestType)
		w.Write(f.manifest)
	case strings.HasPrefix(r.URL.Path, "/v2/r/blobs/"):
		w.Write(f.config)
	default:
		http.NotFound(w, r)
	}
}

func (f *fuzzRegistry) set(tag, manifest, config []byte, tagType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.config = config
	f.manifest = bytes.ReplaceAll(manifest, []byte("CONFIG"), []byte(sha(config)))
	f.tag = bytes.ReplaceAll(tag, []byte("CHILD"), []byte(sha(f.manifest)))
	f.tagType, f.manifestType = tagType, string(types.OCIManifestSchema1)
}

func newFuzzRegistry(t testing.TB) (*fuzzRegistry, *Client) {
	fr := &fuzzRegistry{}
	fr.srv = httptest.NewServer(fr)
	t.Cleanup(fr.srv.Close)
	c, err := New(Options{Settings: &Settings{}, DockerConfigDir: t.TempDir(), CertsDirs: []string{}, StallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return fr, c
}

func fuzzSeeds(f *testing.F) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"CONFIG","size":` + fmt.Sprint(len(cfg)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"CONFIG","size":` + fmt.Sprint(len(cfg)) + `}]}`)
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"CHILD","size":` + fmt.Sprint(len(m)) + `,"platform":{"os":"linux","architecture":"amd64"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"CHILD","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}`)
	f.Add(m, m, cfg, string(types.OCIManifestSchema1))
	f.Add(idx, m, cfg, string(types.OCIImageIndex))
	f.Add(idx, idx, cfg, string(types.DockerManifestList))
	f.Add([]byte(`{"schemaVersion":1,"fsLayers":[]}`), m, cfg, "application/vnd.docker.distribution.manifest.v1+prettyjws")
	f.Add([]byte(`{"schemaVersion":2,"layers":[{"digest":"sha256:zz","size":-5},{"digest":"md5:00","size":9223372036854775807}],"config":{"digest":"CONFIG","size":-1}}`), m, cfg, "")
}

// FuzzRegistryManifest: manifests, indexes and configs from a registry,
// as berth dive/scan (Client.Image) and berth pull (Client.Pull) read
// them. Neither may panic; a pull that succeeds holds only blobs that match
// their digests, and every image it reports is in the sink.
func FuzzRegistryManifest(f *testing.F) {
	fuzzSeeds(f)
	fr, c := newFuzzRegistry(f)
	host := strings.TrimPrefix(fr.srv.URL, "http://")
	ref := mustRef(f, host+"/r:t")
	f.Fuzz(func(t *testing.T, tag, manifest, config []byte, tagType string) {
		fr.set(tag, manifest, config, tagType)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if img, err := c.Image(ctx, ref, nil); err == nil {
			img.ConfigFile()
			if ls, err := img.Layers(); err == nil {
				for _, l := range ls {
					if rc, err := l.Compressed(); err == nil {
						io.Copy(io.Discard, rc)
						rc.Close()
					}
				}
			}
		}
		sink := &memSink{blobs: map[v1.Hash][]byte{}}
		res, err := c.Pull(ctx, ref, sink, PullOptions{Jobs: 2})
		if err != nil {
			return
		}
		for _, d := range append([]v1.Descriptor{res.Image, res.Config}, res.Layers...) {
			if !sink.HasBlob(d.Digest) {
				t.Fatalf("pull reported %s but the sink lacks it", d.Digest)
			}
		}
	})
}

// FuzzTokenReply: what a registry's token server answers (anonymous pulls
// and berth login). It must not panic, and a reply without a token is an
// error, never an empty Authorization.
func FuzzTokenReply(f *testing.F) {
	for _, s := range []string{`{"token":"abc","expires_in":300}`, `{"access_token":"x","refresh_token":"r","issued_at":"2026-01-01T00:00:00Z"}`, `{"token":""}`, `{"expires_in":-1,"token":"t"}`, `[]`, `{"token":1}`, ``} {
		f.Add([]byte(s))
	}
	fr, c := newFuzzRegistry(f)
	fr.bearer = true
	host := strings.TrimPrefix(fr.srv.URL, "http://")
	ref := mustRef(f, host+"/r:t")
	fr.set([]byte("{}"), nil, nil, "")
	f.Fuzz(func(t *testing.T, body []byte) {
		fr.mu.Lock()
		fr.tokenBody = body
		fr.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Image(ctx, ref, nil)
		c.CheckLogin(ctx, host, "user", "pass")
	})
}

// FuzzSearchReply: Docker Hub's search answer (berth search). It must not
// panic, and every result kept passes the filter.
func FuzzSearchReply(f *testing.F) {
	for _, s := range []string{
		`{"results":[{"name":"nginx","description":"web","star_count":20000,"is_official":true},{"name":"me/x","star_count":-1}]}`,
		`{"results":null}`, `{"results":[{"name":1}]}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	var mu sync.Mutex
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Write(body)
	}))
	defer srv.Close()
	f.Setenv(hubURLEnv, srv.URL)
	c, err := New(Options{Settings: &Settings{}, DockerConfigDir: f.TempDir(), CertsDirs: []string{}})
	if err != nil {
		f.Fatal(err)
	}
	official := true
	filter := SearchFilter{Stars: 10, Official: &official}
	f.Fuzz(func(t *testing.T, b []byte) {
		mu.Lock()
		body = b
		mu.Unlock()
		res, err := c.SearchHub(context.Background(), "x", 25, filter)
		if err != nil {
			return
		}
		for _, r := range res {
			if !filter.keep(r) {
				t.Fatalf("kept %+v, which the filter drops", r)
			}
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzContentRangeStart: a resumed download trusts only a well-formed
// Content-Range (RFC 9110: "bytes FIRST-LAST/LENGTH"), never a negative or
// signed start.
func FuzzContentRangeStart(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes 0-0/1", "bytes -1-5/6", "bytes 9223372036854775808-1/2", "100-199", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		start, ok := contentRangeStart(v)
		if ok && (start < 0 || strings.ContainsAny(v[:min(len(v), 7)], "+-") || strings.Count(v, "/") != 1) {
			t.Fatalf("contentRangeStart(%q) = %d", v, start)
		}
	})
}
