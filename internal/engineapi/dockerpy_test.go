package engineapi_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// pythonsWithDocker are the python3s that import docker-py: the one on
// PATH (docker 7.x here) and Debian's /usr/bin/python3 with python3-docker
// (5.0.x), each docker-py version once.
func pythonsWithDocker(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{} // docker-py version → python
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		out, err := exec.Command(p, "-c", "import docker; print(docker.__version__)").Output()
		if v := strings.TrimSpace(string(out)); err == nil && found[v] == "" {
			found[v] = p
		}
	}
	if len(found) == 0 {
		testenv.Peer(t, "python3-docker") // skips, or fails under BERTH_REQUIRE_PEERS
	}
	return found
}

// TestDockerPy drives the service with docker-py: list, inspect, tag,
// history, build (and a failing one), login, push, pull, save, load,
// remove, prune, and the errors it raises.
func TestDockerPy(t *testing.T) {
	for version, py := range pythonsWithDocker(t) {
		t.Run("docker-py "+version, func(t *testing.T) { runDockerPy(t, py) })
	}
}

func runDockerPy(t *testing.T, py string) {
	s := startService(t)
	reg := serveRegistry(t, s)
	s.importImage("busybox:latest", nil, `CMD ["sh"]`)
	r := testenv.Run(t, py, testenv.Cmd{
		Args: []string{"testdata/dockerpy.py"},
		Env:  []string{"DOCKER_HOST=unix://" + s.sock, "DOCKER_CONFIG=" + s.dockerCfg, "REGISTRY=" + reg, "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH="},
	})
	if r.Code != 0 {
		t.Fatalf("docker-py: exit %d\n%s%s\nservice logs:\n%s", r.Code, r.Stdout, r.Stderr, s.logs)
	}
	for _, want := range []string{"version 1.50", "build sha256:", "build error ok", "push pull", "save load", "errors ok", "prune ok"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("docker-py output lacks %q:\n%s", want, r.Stdout)
		}
	}
}
