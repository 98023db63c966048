package registry_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/testenv"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func httpDo(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// TestUploadSurvivesRestart: a chunked upload is resumed after the server is
// killed and started again on the same root.
func TestUploadSurvivesRestart(t *testing.T) {
	root := t.TempDir()
	data := bytes.Repeat([]byte("resumable "), 10000)
	srv := serve(t, root)
	base := "http://" + srv.addr
	res := httpDo(t, http.DefaultClient, "POST", base+"/v2/r/blobs/uploads/", nil)
	loc := res.Header.Get("Location")
	res = httpDo(t, http.DefaultClient, "PATCH", base+loc, bytes.NewReader(data[:60000]), "Content-Range: 0-59999")
	if res.StatusCode != 202 {
		t.Fatalf("patch: %d", res.StatusCode)
	}
	srv.stop(t, syscall.SIGKILL)

	srv = serve(t, root)
	base = "http://" + srv.addr
	res = httpDo(t, http.DefaultClient, "GET", base+loc, nil)
	if res.StatusCode != 204 || res.Header.Get("Range") != "0-59999" {
		t.Fatalf("status after restart: %d %q", res.StatusCode, res.Header.Get("Range"))
	}
	res = httpDo(t, http.DefaultClient, "PUT", base+loc+"?digest="+digestOf(data), bytes.NewReader(data[60000:]), "Content-Range: 60000-99999")
	if res.StatusCode != 201 {
		t.Fatalf("finish: %d", res.StatusCode)
	}
	res = httpDo(t, http.DefaultClient, "HEAD", base+"/v2/r/blobs/"+digestOf(data), nil)
	if res.StatusCode != 200 || res.ContentLength != int64(len(data)) {
		t.Fatalf("head: %d %d", res.StatusCode, res.ContentLength)
	}
}

// TestKillDuringPushes: kill -9 while images are being pushed; after a
// restart every visible tag is complete.
func TestKillDuringPushes(t *testing.T) {
	root := t.TempDir()
	srv := serve(t, root)
	ctx, cancel := context.WithCancel(context.Background())
	pushed := make(chan int, 1000)
	go func() {
		defer close(pushed)
		for i := 0; ctx.Err() == nil; i++ {
			img, _ := random.Image(64<<10, 3)
			ref, _ := name.ParseReference(fmt.Sprintf("%s/kill/r:t%d", srv.addr, i))
			if remote.Write(ref, img, remote.WithContext(ctx)) == nil {
				pushed <- i
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	srv.stop(t, syscall.SIGKILL)
	cancel()
	n := 0
	for range pushed {
		n++
	}
	srv = serve(t, root)
	repo, _ := name.NewRepository(srv.addr + "/kill/r")
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) < n {
		t.Fatalf("%d tags visible, %d pushes acknowledged", len(tags), n)
	}
	for _, tag := range tags {
		tref, _ := name.ParseReference(srv.addr + "/kill/r:" + tag)
		img, err := remote.Image(tref)
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		layers, _ := img.Layers()
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("%s: %v", tag, err)
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s: layer: %v", tag, err)
			}
		}
	}
	t.Logf("%d acknowledged pushes, %d tags, all complete", n, len(tags))
}

// TestGracefulShutdown: SIGTERM lets an upload in flight finish.
func TestGracefulShutdown(t *testing.T) {
	srv := serve(t, t.TempDir())
	base := "http://" + srv.addr
	loc := httpDo(t, http.DefaultClient, "POST", base+"/v2/r/blobs/uploads/", nil).Header.Get("Location")
	pr, pw := io.Pipe()
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("PATCH", base+loc, pr)
		req.ContentLength = 2 << 20
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- nil
			return
		}
		res.Body.Close()
		done <- res
	}()
	pw.Write(make([]byte, 1<<20))
	time.Sleep(200 * time.Millisecond)
	srv.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	pw.Write(make([]byte, 1<<20))
	pw.Close()
	res := <-done
	if res == nil || res.StatusCode != 202 || res.Header.Get("Range") != "0-2097151" {
		t.Fatalf("request in flight: %+v", res)
	}
	if err := srv.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, srv.logText())
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// TestTLSAndRegistryEnv configures the server only through registry:2's
// REGISTRY_* variables: address, TLS, htpasswd auth, root, delete disabled.
func TestTLSAndRegistryEnv(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	htpasswd := makeHtpasswd(t, "admin", "pw")
	bin := testenv.Berth(t)
	root := filepath.Join(dir, "storage")
	cmd := exec.Command(bin, "registry", "serve")
	cmd.Env = append(os.Environ(),
		"REGISTRY_HTTP_ADDR=127.0.0.1:0", "REGISTRY_HTTP_TLS_CERTIFICATE="+cert, "REGISTRY_HTTP_TLS_KEY="+key,
		"REGISTRY_AUTH=htpasswd", "REGISTRY_AUTH_HTPASSWD_REALM=Registry Realm", "REGISTRY_AUTH_HTPASSWD_PATH="+htpasswd,
		"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="+root, "REGISTRY_STORAGE_DELETE_ENABLED=false")
	s := startCmd(t, cmd)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res := httpDo(t, c, "GET", "https://"+s.addr+"/v2/", nil)
	if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != `Basic realm="Registry Realm"` {
		t.Fatalf("challenge: %d %v", res.StatusCode, res.Header)
	}
	ref, _ := name.ParseReference(s.addr + "/env/img:v1")
	img, _ := random.Image(1024, 1)
	opts := []remote.Option{remote.WithAuth(&authn.Basic{Username: "admin", Password: "pw"}), remote.WithTransport(c.Transport)}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	req, _ := http.NewRequest("DELETE", "https://"+s.addr+"/v2/env/img/manifests/"+d.String(), nil)
	req.SetBasicAuth("admin", "pw")
	if res, err := c.Do(req); err != nil || res.StatusCode != 405 {
		t.Fatalf("delete with REGISTRY_STORAGE_DELETE_ENABLED=false: %v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(root, "repositories", "env", "img", "_meta.json")); err != nil {
		t.Fatalf("root directory not used: %v", err)
	}
}

// TestConfigFile reads registry:2's config.yml keys.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	htpasswd := makeHtpasswd(t, "u", "p")
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
auth:
  htpasswd:
    realm: cfg-realm
    path: %s
`, filepath.Join(dir, "data"), htpasswd)), 0o644)
	s := startCmd(t, exec.Command(testenv.Berth(t), "registry", "serve", "--config", cfg))
	res := httpDo(t, http.DefaultClient, "GET", "http://"+s.addr+"/v2/", nil)
	if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != `Basic realm="cfg-realm"` {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	res = httpDo(t, http.DefaultClient, "GET", "http://u:p@"+s.addr+"/v2/", nil)
	if res.StatusCode != 200 {
		t.Fatalf("with credentials: %d", res.StatusCode)
	}
}

// startCmd starts a prepared serve command (its flags or env choose the
// address) and waits for it to listen.
func startCmd(t *testing.T, cmd *exec.Cmd) *served {
	t.Helper()
	return serveCmd(t, cmd)
}

// ociLayoutImage writes a random image of layers layers of size bytes as
// tag "v1" of a new OCI layout at dir, for skopeo's oci: transport (which
// lists only OCI media types).
func ociLayoutImage(t *testing.T, dir string, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	p, err := layout.Write(dir, mustEmptyIndex())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestSkopeoInterop: skopeo copies an image into berth's registry and back;
// the digests are identical. Auth on, as users run it.
func TestSkopeoInterop(t *testing.T) {
	skopeo := testenv.Peer(t, "skopeo")
	dir := t.TempDir()
	htpasswd := makeHtpasswd(t, "sk", "opeo")
	srv := serve(t, filepath.Join(dir, "root"), "--htpasswd", htpasswd)
	src := filepath.Join(dir, "src")
	img := ociLayoutImage(t, src, 256<<10, 3)
	want, _ := img.Digest()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(skopeo, append([]string{"--insecure-policy"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("skopeo %v: %v\n%s", args, err, out)
		}
	}
	dst := "docker://" + srv.addr + "/skopeo/img:v1"
	run("copy", "--dest-tls-verify=false", "--dest-creds", "sk:opeo", "oci:"+src+":v1", dst)
	back := filepath.Join(dir, "back")
	run("copy", "--src-tls-verify=false", "--src-creds", "sk:opeo", dst, "oci:"+back+":v1")
	idx, err := layout.ImageIndexFromPath(back)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != want {
		t.Fatalf("copied back %v, want %s", m.Manifests, want)
	}
	res := httpDo(t, http.DefaultClient, "HEAD", "http://sk:opeo@"+srv.addr+"/v2/skopeo/img/manifests/v1", nil)
	if res.Header.Get("Docker-Content-Digest") != want.String() {
		t.Fatalf("registry digest %q, want %s", res.Header.Get("Docker-Content-Digest"), want)
	}
}

// TestAccessLogSettings: registry:2's log.accesslog.disabled and log.level
// are honoured, and the startup line with the address is printed whatever
// the level.
func TestAccessLogSettings(t *testing.T) {
	for _, tc := range []struct {
		env        []string
		wantAccess bool
	}{
		{nil, true},
		{[]string{"REGISTRY_LOG_ACCESSLOG_DISABLED=true"}, false},
		{[]string{"REGISTRY_LOG_LEVEL=error"}, false},
	} {
		cmd := exec.Command(testenv.Berth(t), "registry", "serve", "--root", t.TempDir(), "--addr", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), tc.env...)
		s := startCmd(t, cmd)
		httpDo(t, http.DefaultClient, "GET", "http://"+s.addr+"/v2/", nil)
		deadline := time.Now().Add(2 * time.Second)
		for tc.wantAccess && !strings.Contains(s.logText(), `"msg":"request"`) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		if got := strings.Contains(s.logText(), `"msg":"request"`); got != tc.wantAccess {
			t.Errorf("%v: access log written %v, want %v:\n%s", tc.env, got, tc.wantAccess, s.logText())
		}
	}
}
