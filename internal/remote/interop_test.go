package remote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	"github.com/berth-dev/berth/internal/store"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// env is one test's client, store and Docker config directory.
type env struct {
	c         *Client
	st        *store.Store
	dockerDir string
	certsDir  string
}

func newEnv(t *testing.T, s Settings) *env {
	t.Helper()
	e := &env{dockerDir: t.TempDir(), certsDir: t.TempDir()}
	c, err := New(Options{Settings: &s, DockerConfigDir: e.dockerDir, CertsDirs: []string{e.certsDir}})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	return e
}

func randomImage(t *testing.T, layerSize int64, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(layerSize, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// skopeoPush writes img to an OCI layout and lets skopeo copy it to dst.
func skopeoPush(t *testing.T, img v1.Image, dst string, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"copy", "-q", "--dest-tls-verify=false"}, extra...)
	remotetest.Skopeo(t, append(args, "oci:"+dir, "docker://"+dst)...)
}

func mustRef(t testing.TB, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func digestOf(t *testing.T, f func() (v1.Hash, error)) v1.Hash {
	t.Helper()
	h, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// skopeo pushes, berth pulls; berth pushes, skopeo pulls: the same manifest
// and config digests on both sides.
func TestInteropWithSkopeo(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	ctx := context.Background()
	e := newEnv(t, Settings{})
	img := randomImage(t, 64<<10, 3)
	want := digestOf(t, img.Digest)
	wantCfg := digestOf(t, img.ConfigName)
	skopeoPush(t, img, reg.Host+"/interop/from-skopeo:v1")

	res, err := e.c.Pull(ctx, mustRef(t, reg.Host+"/interop/from-skopeo:v1"), e.st, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest != want || res.Config.Digest != wantCfg || res.Fetched != 4 {
		t.Fatalf("pulled %s (config %s, %d blobs), want %s (config %s, 4 blobs)", res.Desc.Digest, res.Config.Digest, res.Fetched, want, wantCfg)
	}
	again, err := e.c.Pull(ctx, mustRef(t, reg.Host+"/interop/from-skopeo:v1"), e.st, PullOptions{})
	if err != nil || again.Fetched != 0 {
		t.Fatalf("second pull fetched %d blobs (err %v), want 0", again.Fetched, err)
	}
	if _, err := e.st.AddImage(ctx, res.Desc, reg.Host+"/interop/from-skopeo:v1"); err != nil {
		t.Fatal(err)
	}
	rec, err := e.st.Lookup(ctx, reg.Host+"/interop/from-skopeo:v1")
	if err != nil {
		t.Fatal(err)
	}
	local, err := e.st.Image(ctx, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := e.c.Push(ctx, mustRef(t, reg.Host+"/interop/from-berth:v2"), local, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Digest != want {
		t.Fatalf("pushed digest %s, want %s", pr.Digest, want)
	}
	out := remotetest.Skopeo(t, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+reg.Host+"/interop/from-berth:v2")
	if strings.TrimSpace(out) != want.String() {
		t.Fatalf("skopeo sees %s, want %s", out, want)
	}
	cfg := remotetest.Skopeo(t, "inspect", "--tls-verify=false", "--config", "--raw", "docker://"+reg.Host+"/interop/from-berth:v2")
	rawCfg, _ := img.RawConfigFile()
	if cfg != string(rawCfg) {
		t.Fatalf("config differs after the round trip")
	}
	// skopeo can copy the whole image berth pushed (every blob verifies).
	remotetest.Skopeo(t, "copy", "-q", "--src-tls-verify=false", "docker://"+reg.Host+"/interop/from-berth:v2", "oci:"+t.TempDir()+":x")
}

// Pushing into a second repository of the same registry mounts the blobs
// instead of uploading them.
func TestPushMountsAcrossRepositories(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	ctx := context.Background()
	e := newEnv(t, Settings{})
	img := randomImage(t, 32<<10, 2)
	if _, err := e.c.Push(ctx, mustRef(t, reg.Host+"/team/one:v1"), img, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	var statuses recorder
	from := mustRef(t, reg.Host+"/team/one:v1").Context()
	_, err := e.c.Push(ctx, mustRef(t, reg.Host+"/team/two:v1"), img, PushOptions{
		Progress:  &statuses,
		MountFrom: func(v1.Hash) []name.Repository { return []name.Repository{from} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	for _, l := range ls {
		d, _ := l.Digest()
		if got := statuses.last(ShortID(d)); got != "Mounted from team/one" {
			t.Fatalf("layer %s: %q, want Mounted from team/one (all: %v)", d, got, statuses.all())
		}
	}
	out := remotetest.Skopeo(t, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+reg.Host+"/team/two:v1")
	if strings.TrimSpace(out) != digestOf(t, img.Digest).String() {
		t.Fatalf("skopeo sees %s", out)
	}
	// A third push finds every layer present.
	statuses.log = nil
	if _, err := e.c.Push(ctx, mustRef(t, reg.Host+"/team/two:v2"), img, PushOptions{Progress: &statuses}); err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		d, _ := l.Digest()
		if got := statuses.last(ShortID(d)); got != "Layer already exists" {
			t.Fatalf("layer %s: %q, want Layer already exists", d, got)
		}
	}
}

// Each of the four failure causes is recognised and named.
func TestFailureCauses(t *testing.T) {
	plain := remotetest.Start(t, remotetest.Options{})
	authed := remotetest.Start(t, remotetest.Options{User: "alice", Password: "s3cret"})
	tlsReg := remotetest.Start(t, remotetest.Options{TLS: true})
	closed := "127.0.0.1:1" // nothing listens on port 1 in the test environment
	ctx := context.Background()
	tests := []struct {
		name  string
		ref   string
		cause Cause
		msg   []string
		hint  string
	}{
		{"unreachable", closed + "/x/y:z", CauseUnreachable, []string{"cannot reach registry " + closed, "127.0.0.1:1", "connection refused"}, "running"},
		{"auth", authed.Host + "/x/y:z", CauseAuth, []string{"unauthorized", authed.Host + "/x/y:z"}, "berth login " + authed.Host},
		{"manifest unknown", plain.Host + "/x/y:nope", CauseNotFound, []string{"manifest unknown: " + plain.Host + "/x/y:nope"}, "tag"},
		{"tls", tlsReg.Host + "/x/y:z", CauseTLS, []string{"TLS", "certificate signed by unknown authority"}, "certs.d/" + tlsReg.Host + "/ca.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Settings{})
			_, err := e.c.Pull(ctx, mustRef(t, tt.ref), e.st, PullOptions{})
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *remote.Error", err, err)
			}
			if re.Cause != tt.cause {
				t.Fatalf("cause = %v, want %v (%v)", re.Cause, tt.cause, err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("message %q lacks %q", err, m)
				}
			}
			if !strings.Contains(re.Hint(), tt.hint) {
				t.Fatalf("hint %q lacks %q", re.Hint(), tt.hint)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("message is not one line: %q", err)
			}
		})
	}
}

// TLS: trusting the test CA through certs.d makes the pull work; so does
// listing the registry as insecure.
func TestTLSTrust(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{TLS: true})
	ctx := context.Background()
	img := randomImage(t, 16<<10, 1)
	skopeoPush(t, img, reg.Host+"/tls/img:v1")
	t.Run("certs.d", func(t *testing.T) {
		e := newEnv(t, Settings{})
		reg.TrustCA(t, e.certsDir)
		res, err := e.c.Pull(ctx, mustRef(t, reg.Host+"/tls/img:v1"), e.st, PullOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Desc.Digest != digestOf(t, img.Digest) {
			t.Fatal("wrong digest")
		}
	})
	t.Run("insecure-registries", func(t *testing.T) {
		e := newEnv(t, Settings{InsecureRegistries: []string{reg.Host}})
		if _, err := e.c.Pull(ctx, mustRef(t, reg.Host+"/tls/img:v1"), e.st, PullOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad CA file", func(t *testing.T) {
		e := newEnv(t, Settings{})
		d := filepath.Join(e.certsDir, reg.Host)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "ca.crt"), []byte("not a certificate"), 0o644)
		_, err := e.c.Pull(ctx, mustRef(t, reg.Host+"/tls/img:v1"), e.st, PullOptions{})
		if err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
			t.Fatalf("err = %v, want a message about the CA file", err)
		}
	})
}

// recorder keeps every progress status per id.
type recorder struct {
	mu  sync.Mutex
	log map[string][]string
}

func (r *recorder) Status(id, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.log == nil {
		r.log = map[string][]string{}
	}
	r.log[id] = append(r.log[id], s)
}

func (r *recorder) Bytes(string, int64, int64) {}

func (r *recorder) last(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.log[id]
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

func (r *recorder) all() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log
}
