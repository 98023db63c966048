package engineapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// TestDockerCompose: docker-compose (Debian's 1.29) builds a project's
// images through the service, both through the docker CLI (its default)
// and through docker-py (COMPOSE_DOCKER_CLI_BUILD=0).
func TestDockerCompose(t *testing.T) {
	compose := testenv.Peer(t, "docker-compose")
	s := startService(t)
	s.importImage("busybox:latest", nil, `CMD ["sh"]`)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "web"), 0o755)
	os.MkdirAll(filepath.Join(dir, "svc"), 0o755)
	os.WriteFile(filepath.Join(dir, "web", "Dockerfile"), []byte("FROM busybox\nARG MSG=x\nRUN echo $MSG > /msg\nLABEL msg=$MSG\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "svc", "Dockerfile"), []byte("FROM busybox\nLABEL role=svc\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte("version: \"3.8\"\nservices:\n  web:\n    build:\n      context: ./web\n      args:\n        MSG: hello\n    image: cmp/web:1\n  svc:\n    build: ./svc\n"), 0o644)
	for _, viaCLI := range []string{"1", "0"} {
		r := testenv.Run(t, compose, testenv.Cmd{Args: []string{"-p", "proj", "build"}, Dir: dir,
			Env: append(s.dockerVars(), "COMPOSE_DOCKER_CLI_BUILD="+viaCLI, "DOCKER_BUILDKIT=")})
		if r.Code != 0 || !strings.Contains(r.Stdout+r.Stderr, "Successfully tagged proj_svc:latest") {
			t.Fatalf("docker-compose build (COMPOSE_DOCKER_CLI_BUILD=%s): %d\n%s%s", viaCLI, r.Code, r.Stdout, r.Stderr)
		}
		if got := s.berthOK("inspect", "-f", "{{.Config.Labels.msg}}", "cmp/web:1"); got != "hello\n" {
			t.Errorf("cmp/web:1 label: %q", got)
		}
		if got := s.berthOK("inspect", "-f", "{{.Config.Labels.role}}", "proj_svc"); got != "svc\n" {
			t.Errorf("proj_svc label: %q", got)
		}
		s.berthOK("rmi", "cmp/web:1", "proj_svc")
	}
}
