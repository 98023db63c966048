package engineapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// serveRegistry starts `berth registry serve` on a free loopback port with
// an htpasswd file holding user:secret, and returns its host:port.
func serveRegistry(t *testing.T, s *service) string {
	t.Helper()
	return startRegistry(t, s, true)
}

func startRegistry(t *testing.T, s *service, withAuth bool) string {
	t.Helper()
	if !withAuth {
		return testenv.BerthRegistry(t, s.berth)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if r := s.berthRun(nil, "registry", "htpasswd", "-Bbc", htpasswd, "user", "secret"); r.Code != 0 {
		t.Fatalf("htpasswd: %s", r.Stderr)
	}
	return testenv.BerthRegistry(t, s.berth, "--htpasswd", htpasswd)
}

// TestDockerCLIRegistry: docker login, push, pull and search through the
// service against berth's own registry, the credentials travelling as the
// docker CLI sends them (X-Registry-Auth), never read from config.json by
// the service.
func TestDockerCLIRegistry(t *testing.T) {
	s := startService(t)
	reg := serveRegistry(t, s)
	s.importImage("busybox:latest", nil, `CMD ["sh"]`)
	s.importImage("app:1", map[string]string{"etc/app": "1"})
	s.berthOK("tag", "app:1", reg+"/team/app:1")
	s.berthOK("tag", "app:1", reg+"/team/app:2")

	// Without a login the registry refuses, and the service says so.
	if r := s.docker(nil, "push", reg+"/team/app:1"); r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "unauthorized") {
		t.Fatalf("push without login: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := s.docker([]byte("wrong\n"), "login", "-u", "user", "--password-stdin", reg); r.Code == 0 {
		t.Fatalf("login with a wrong password succeeded: %s", r.Stdout)
	}
	r := s.docker([]byte("secret\n"), "login", "-u", "user", "--password-stdin", reg)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("docker login: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(s.dockerCfg, "config.json")); !strings.Contains(string(b), reg) {
		t.Fatalf("the docker CLI did not store the login: %s", b)
	}

	out := s.dockerOK("push", reg+"/team/app:1")
	for _, want := range []string{"The push refers to repository [" + reg + "/team/app]", ": Pushed", "1: digest: sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker push lacks %q:\n%s", want, out)
		}
	}
	out = s.dockerOK("push", "--all-tags", reg+"/team/app")
	if !strings.Contains(out, "1: digest: sha256:") || !strings.Contains(out, "2: digest: sha256:") || !strings.Contains(out, "Layer already exists") {
		t.Errorf("docker push -a:\n%s", out)
	}

	// Pull it back into an empty store: the docker CLI's lines are
	// berth pull's.
	s.dockerOK("rmi", "-f", reg+"/team/app:1", reg+"/team/app:2", "app:1")
	d := s.dockerOK("pull", reg+"/team/app:1")
	s.dockerOK("rmi", reg+"/team/app:1")
	b := s.berthOK("pull", reg+"/team/app:1")
	if d != b {
		t.Errorf("pull: docker and berth differ\n--- docker:\n%s--- berth:\n%s", d, b)
	}
	if !strings.Contains(d, "Status: Downloaded newer image for "+reg+"/team/app:1") || !strings.HasSuffix(d, reg+"/team/app:1\n") {
		t.Errorf("docker pull output:\n%s", d)
	}
	if again := s.dockerOK("pull", reg+"/team/app:1"); !strings.Contains(again, "Status: Image is up to date for "+reg+"/team/app:1") {
		t.Errorf("second pull:\n%s", again)
	}
	if r := s.docker(nil, "pull", reg+"/team/nosuch:1"); r.Code == 0 || !strings.Contains(r.Stderr, "manifest unknown") {
		t.Errorf("pull of a missing image: %d %s", r.Code, r.Stderr)
	}
	sameRows(t, s, "images", "--digests")

	// search reads the registry's catalog.
	if out := s.dockerOK("search", reg+"/team"); !strings.Contains(out, "team/app") {
		t.Errorf("docker search:\n%s", out)
	}
	if r := s.docker(nil, "logout", reg); r.Code != 0 {
		t.Errorf("logout: %s", r.Stderr)
	}
	// Logged out, the credentials are gone with the client's config: the
	// service holds none of its own.
	if r := s.docker(nil, "pull", reg+"/team/app:2"); r.Code == 0 {
		t.Errorf("pull after logout succeeded:\n%s", r.Stdout)
	}
}
