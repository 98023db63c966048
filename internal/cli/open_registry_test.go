package cli

import (
	"github.com/berth-dev/berth/internal/remote/remotetest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// berth dive registry:REF and berth scan REF read registry images through
// berth's own client, as berth pull does: a Docker Hub name goes to the
// mirror named in berth's settings file (Docker Hub itself is unreachable:
// every proxied request fails), and a TLS registry with a private CA is
// trusted through Docker's certs.d. go-containerregistry's default keychain
// and transport knew neither.
func TestDiveScanThroughBerthsClient(t *testing.T) {
	mirror := remotetest.Start(t, remotetest.Options{})
	hub := seed(t, mirror.Host+"/library/nginx:latest", 2)
	hubDigest, _ := hub.Digest()
	tlsReg := remotetest.Start(t, remotetest.Options{TLS: true})
	private := tlsReg.Host + "/secure/img:v1"

	b := newBerthEnv(t)
	settings := `{"registry-mirrors": ["http://` + mirror.Host + `"]}`
	if err := os.WriteFile(filepath.Join(b.dir, "berth.json"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsReg.TrustCA(t, filepath.Join(b.dir, "docker", "certs.d"))
	seedTLS(t, tlsReg, private)
	// No route to Docker Hub: anything not on loopback goes to a proxy
	// that refuses connections (loopback is never proxied).
	b.env = append(b.env, "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=", "no_proxy=")
	osv := t.TempDir()
	os.WriteFile(filepath.Join(osv, "X.json"), []byte(`{"id":"X-1","modified":"2020-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/none"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`), 0o644)
	if _, errOut, code := b.run(t, "", "scan", "db", "import", osv); code != 0 {
		t.Fatalf("scan db import: exit %d %s", code, errOut)
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"dive through the mirror", []string{"dive", "--ci", "registry:nginx"}, "efficiency:"},
		{"dive of a TLS registry", []string{"dive", "--ci", "registry:" + private}, "efficiency:"},
		{"dive --source registry", []string{"dive", "--ci", "--source", "registry", "nginx:latest"}, "efficiency:"},
		{"scan through the mirror", []string{"scan", "--format", "json", "nginx"}, hubDigest.String()},
		{"scan of a TLS registry", []string{"scan", "--format", "json", private}, `"Digest": "sha256:`},
		{"sbom through the mirror", []string{"sbom", "--format", "json", "docker.io/library/nginx:latest"}, hubDigest.String()},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := b.run(t, "", c.args...)
			if code != 0 || !strings.Contains(out, c.want) {
				t.Fatalf("berth %s: exit %d, want 0 and %q\n%s%s", strings.Join(c.args, " "), code, c.want, out, errOut)
			}
		})
	}
	// Nothing was stored: the images were read, not pulled.
	if out, _, _ := b.run(t, "", "images", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("images were stored:\n%s", out)
	}
	// Without the CA the TLS registry is refused with the TLS cause and its hint.
	os.RemoveAll(filepath.Join(b.dir, "docker", "certs.d"))
	_, errOut, code := b.run(t, "", "dive", "--ci", "registry:"+private)
	if code != 1 || !strings.Contains(errOut, "certificate") || !strings.Contains(errOut, "hint:") {
		t.Errorf("untrusted TLS registry: exit %d\n%s", code, errOut)
	}
}
