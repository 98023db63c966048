package registry_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	"github.com/berth-dev/berth/internal/testenv"
)

// TestPullThroughCache: with REGISTRY_PROXY_REMOTEURL berth's registry is
// a pull-through cache of a real CNCF registry, as registry:2 is: skopeo
// and berth (through its registry-mirrors setting, for a Docker Hub name)
// pull through it with the upstream's digests, what was pulled is served
// after the upstream goes away, and pushes are refused.
func TestPullThroughCache(t *testing.T) {
	up := remotetest.Start(t, remotetest.Options{})
	images := map[string]string{}
	for _, ref := range []string{"library/busybox:latest", "team/app:v1"} {
		img, _ := random.Image(32<<10, 2)
		r, _ := name.ParseReference(up.Host + "/" + ref)
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		images[ref] = d.String()
	}
	cmd := exec.Command(testenv.Berth(t), "registry", "serve", "--root", t.TempDir(), "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "REGISTRY_PROXY_REMOTEURL=http://"+up.Host)
	proxy := serveCmd(t, cmd)

	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	// dir: keeps the manifest as the registry sent it.
	sk := exec.Command(testenv.Peer(t, "skopeo"), "--insecure-policy", "copy", "--src-tls-verify=false", "docker://"+proxy.addr+"/team/app:v1", "dir:"+out)
	if b, err := sk.CombinedOutput(); err != nil {
		t.Fatalf("skopeo through the cache: %v\n%s", err, b)
	}
	if got := dirDigest(t, out); got != images["team/app:v1"] {
		t.Fatalf("skopeo got %s through the cache, upstream has %s", got, images["team/app:v1"])
	}

	// berth pull busybox, with the cache as its Docker Hub mirror: the
	// whole pull stays on this machine.
	cfg := filepath.Join(dir, "berth.json")
	os.WriteFile(cfg, []byte(`{"registry-mirrors": ["http://`+proxy.addr+`"]}`), 0o644)
	env := []string{"BERTH_ROOT=" + filepath.Join(dir, "root"), "BERTH_CONFIG=" + cfg, "DOCKER_CONFIG=" + filepath.Join(dir, "docker")}
	berth := func(args ...string) testenv.Result {
		return testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: args, Env: env})
	}
	if r := berth("pull", "busybox"); r.Code != 0 || !strings.Contains(r.Stdout, "Digest: "+images["library/busybox:latest"]) {
		t.Fatalf("berth pull busybox through the mirror: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// The tag list is the upstream's, including tags never pulled.
	r2, _ := name.ParseReference(up.Host + "/team/app:v2")
	img2, _ := random.Image(1024, 1)
	if err := remote.Write(r2, img2); err != nil {
		t.Fatal(err)
	}
	tagsRes, err := http.Get("http://" + proxy.addr + "/v2/team/app/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	var tl struct{ Tags []string }
	json.NewDecoder(tagsRes.Body).Decode(&tl)
	tagsRes.Body.Close()
	if tagsRes.StatusCode != 200 || strings.Join(tl.Tags, ",") != "v1,v2" {
		t.Fatalf("tags through the cache: %v, want the upstream's v1,v2", tl.Tags)
	}

	// What the upstream does not have is the registry's own "unknown",
	// not a failure of the cache.
	for _, path := range []string{"/v2/team/app/manifests/v9", "/v2/team/absent/manifests/v1", "/v2/team/app/blobs/sha256:" + strings.Repeat("0", 64)} {
		if res := httpDo(t, http.DefaultClient, "GET", "http://"+proxy.addr+path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s, which the upstream lacks: %d, want 404", path, res.StatusCode)
		}
	}

	// Pushes go to the upstream, not the cache.
	res := httpDo(t, http.DefaultClient, "POST", "http://"+proxy.addr+"/v2/team/app/blobs/uploads/", nil)
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("push to the cache: %d", res.StatusCode)
	}

	// With the upstream gone, what was pulled is still served.
	up.Stop(t)
	out2 := filepath.Join(dir, "out2")
	sk = exec.Command(testenv.Peer(t, "skopeo"), "--insecure-policy", "copy", "--src-tls-verify=false", "docker://"+proxy.addr+"/team/app:v1", "dir:"+out2)
	if b, err := sk.CombinedOutput(); err != nil {
		t.Fatalf("pull from the cache with the upstream down: %v\n%s", err, b)
	}
	res = httpDo(t, http.DefaultClient, "GET", "http://"+proxy.addr+"/v2/team/other/manifests/v1", nil)
	if res.StatusCode < 400 {
		t.Fatalf("a never-pulled image with the upstream down: %d", res.StatusCode)
	}
}

// dirDigest is the digest of the manifest skopeo's dir: transport wrote.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	return digestOf(raw)
}

// TestPullThroughCacheUsesBerthsClient: the cache reaches its upstream
// with berth's registry client and the serving user's Docker settings: a
// TLS upstream signed by a private CA trusted only through
// $DOCKER_CONFIG/certs.d, behind htpasswd whose credentials are only in
// $DOCKER_CONFIG/config.json. go-containerregistry's default transport and
// keychain (what the cache used before) fail on both.
func TestPullThroughCacheUsesBerthsClient(t *testing.T) {
	up := remotetest.Start(t, remotetest.Options{TLS: true, User: "puller", Password: "s3cret"})
	docker := t.TempDir()
	up.TrustCA(t, filepath.Join(docker, "certs.d"))
	os.WriteFile(filepath.Join(docker, "config.json"), []byte(`{"auths":{"`+up.Host+`":{"auth":"`+
		base64.StdEncoding.EncodeToString([]byte("puller:s3cret"))+`"}}}`), 0o600)

	want := writeTLS(t, up, "team/tls:v1", remote.WithAuth(&authn.Basic{Username: "puller", Password: "s3cret"}))

	cmd := exec.Command(testenv.Berth(t), "registry", "serve", "--root", t.TempDir(), "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "REGISTRY_PROXY_REMOTEURL=https://"+up.Host, "DOCKER_CONFIG="+docker,
		"BERTH_CONFIG="+filepath.Join(docker, "berth.json"))
	proxy := serveCmd(t, cmd)
	if got := copyThrough(t, proxy, "team/tls:v1"); got != want.String() {
		t.Fatalf("got %s through the cache, upstream has %s", got, want)
	}
}

// writeTLS pushes a random image to reg (a TLS registry) as repo:tag and
// returns its digest.
func writeTLS(t *testing.T, reg *remotetest.Registry, ref string, opts ...remote.Option) v1.Hash {
	t.Helper()
	img, _ := random.Image(16<<10, 2)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(reg.CAPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	r, _ := name.ParseReference(reg.Host + "/" + ref)
	if err := remote.Write(r, img, append(opts, remote.WithTransport(tr))...); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

// copyThrough copies ref from the cache with skopeo and returns the
// digest of the manifest it got.
func copyThrough(t *testing.T, proxy *served, ref string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	sk := exec.Command(testenv.Peer(t, "skopeo"), "--insecure-policy", "copy", "--src-tls-verify=false", "docker://"+proxy.addr+"/"+ref, "dir:"+out)
	if b, err := sk.CombinedOutput(); err != nil {
		t.Fatalf("skopeo through the cache: %v\n%s\nregistry log:\n%s", err, b, proxy.logText())
	}
	return dirDigest(t, out)
}

// TestPullThroughCacheOfDockerHubUsesMirror: a cache of Docker Hub
// (registry:2's usual proxy.remoteurl) fills itself from the serving
// user's registry-mirrors, as berth pull would, with no route to Docker
// Hub at all (every non-loopback connection goes to a proxy that refuses
// it). The mirror speaks TLS with a certificate from a private CA that
// only $DOCKER_CONFIG/certs.d trusts.
func TestPullThroughCacheOfDockerHubUsesMirror(t *testing.T) {
	mirror := remotetest.Start(t, remotetest.Options{TLS: true})
	docker := t.TempDir()
	mirror.TrustCA(t, filepath.Join(docker, "certs.d"))
	want := writeTLS(t, mirror, "library/nginx:latest")
	cfg := filepath.Join(docker, "berth.json")
	os.WriteFile(cfg, []byte(`{"registry-mirrors": ["https://`+mirror.Host+`"]}`), 0o644)

	for _, remoteURL := range []string{"https://registry-1.docker.io", "https://docker.io"} {
		t.Run(remoteURL, func(t *testing.T) {
			cmd := exec.Command(testenv.Berth(t), "registry", "serve", "--root", t.TempDir(), "--addr", "127.0.0.1:0")
			cmd.Env = append(os.Environ(), "REGISTRY_PROXY_REMOTEURL="+remoteURL, "DOCKER_CONFIG="+docker, "BERTH_CONFIG="+cfg,
				"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=", "no_proxy=")
			proxy := serveCmd(t, cmd)
			if got := copyThrough(t, proxy, "library/nginx:latest"); got != want.String() {
				t.Fatalf("got %s through the cache, the mirror has %s", got, want)
			}
			// A name the mirror lacks falls through to Docker Hub, which
			// cannot be reached: an error, never a made-up answer.
			res := httpDo(t, http.DefaultClient, "GET", "http://"+proxy.addr+"/v2/library/absent/manifests/latest", nil)
			if res.StatusCode < 400 {
				t.Errorf("a name the mirror lacks, Docker Hub unreachable: %d", res.StatusCode)
			}
		})
	}
}
