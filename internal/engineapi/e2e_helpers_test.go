package engineapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
)

// service is one `berth system service` started by a test, with its own
// store, socket and Docker config directory: nothing touches the real
// daemon's socket or the user's ~/.docker.
type service struct {
	t         testing.TB
	berth     string
	root      string
	sock      string
	dockerCfg string
	cmd       *exec.Cmd
	logs      *bytes.Buffer
}

// fixtureEpoch dates the test images two years back, so that CREATED
// columns read the same in two runs a second apart.
var fixtureEpoch = fmt.Sprint(time.Now().AddDate(-2, 0, -3).Unix())

func startService(t *testing.T) *service { return startServiceB(t) }

func startServiceB(t testing.TB) *service {
	t.Helper()
	dir := t.TempDir()
	s := &service{t: t, berth: testenv.Berth(t), root: filepath.Join(dir, "root"), sock: filepath.Join(dir, "run", "docker.sock"), dockerCfg: filepath.Join(dir, "docker-config")}
	os.MkdirAll(s.dockerCfg, 0o700)
	s.cmd = exec.Command(s.berth, "--root", s.root, "system", "service", "unix://"+s.sock)
	s.cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+s.dockerCfg, "BERTH_CONFIG="+filepath.Join(dir, "berth-config.json"))
	s.logs = &bytes.Buffer{}
	s.cmd.Stderr = s.logs
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "export DOCKER_HOST=unix://"+s.sock {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		t.Fatalf("service said %q (%v); logs:\n%s", line, err, s.logs)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill()
			<-done
			t.Errorf("service did not stop on SIGTERM")
		}
		if strings.Contains(s.logs.String(), "panic") {
			t.Errorf("service logs:\n%s", s.logs)
		}
	})
	// The line is printed once the socket listens.
	c, err := net.Dial("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if fi, err := os.Lstat(s.sock); err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %s: %v %v, want a socket with mode 0660", s.sock, fi.Mode(), err)
	}
	return s
}

// berthRun runs berth directly on the service's store.
func (s *service) berthRun(stdin []byte, args ...string) testenv.Result {
	s.t.Helper()
	c := testenv.Cmd{Args: append([]string{"--root", s.root}, args...), Env: []string{"DOCKER_CONFIG=" + s.dockerCfg, "SOURCE_DATE_EPOCH=" + fixtureEpoch}}
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	return testenv.Run(s.t, s.berth, c)
}

func (s *service) berthOK(args ...string) string {
	s.t.Helper()
	r := s.berthRun(nil, args...)
	if r.Code != 0 {
		s.t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// dockerCLI is the docker client this machine has: Docker's static 28.x
// in /usr/local/bin first, else Debian's docker.io.
func dockerCLI(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/local/bin/docker"); err == nil {
		return "/usr/local/bin/docker"
	}
	return testenv.Peer(t, "docker")
}

// docker runs the docker CLI against the service.
func (s *service) docker(stdin []byte, args ...string) testenv.Result {
	s.t.Helper()
	return s.dockerEnv(nil, stdin, args...)
}

// dockerEnv is docker with extra environment variables.
func (s *service) dockerEnv(env []string, stdin []byte, args ...string) testenv.Result {
	s.t.Helper()
	c := testenv.Cmd{Args: args, Env: append(s.dockerVars(), env...)}
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	return testenv.Run(s.t, dockerCLI(s.t), c)
}

func (s *service) dockerOK(args ...string) string {
	s.t.Helper()
	r := s.docker(nil, args...)
	if r.Code != 0 {
		s.t.Fatalf("docker %s: exit %d\n%s%s\nservice logs:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr, s.logs)
	}
	return r.Stdout
}

// rootfsTar is a root file system with Debian's static busybox and the
// extra files given, as a tar for `berth import`.
func rootfsTar(t testing.TB, extra map[string]string) []byte { return testenv.BusyboxRootfs(t, extra) }

// importImage imports a busybox root file system as name (none for "").
func (s *service) importImage(name string, extra map[string]string, changes ...string) string {
	s.t.Helper()
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-")
	if name != "" {
		args = append(args, name)
	}
	r := s.berthRun(rootfsTar(s.t, extra), args...)
	if r.Code != 0 {
		s.t.Fatalf("import: %s", r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

// sameOutput fails when the docker CLI through the service and berth
// directly print different lines for the same command.
func sameOutput(t *testing.T, s *service, args ...string) {
	t.Helper()
	compareBracketed(t, s, args, func(out string) string { return out }, withoutBerthExtras)
}

// sameRows is sameOutput for `images`: the docker CLI prints the names of
// one image in Go map order (a different order on every run), so the rows
// after the header are compared as a set.
func sameRows(t *testing.T, s *service, args ...string) {
	t.Helper()
	compareBracketed(t, s, args, sortRows, sortRows)
}

// compareBracketed runs docker, berth, then docker again, and wants berth's
// output to equal one of docker's. Relative times ("2 seconds ago") are
// rendered when each command runs, so a second boundary can fall between
// two commands; berth's lines still have to match docker's exactly, as
// printed just before or just after.
func compareBracketed(t *testing.T, s *service, args []string, docker, berth func(string) string) {
	t.Helper()
	before := docker(s.dockerOK(args...))
	b := berth(s.berthOK(args...))
	if b == before {
		return
	}
	if after := docker(s.dockerOK(args...)); b != after {
		t.Errorf("%s: docker and berth differ\n--- docker:\n%s--- berth:\n%s", strings.Join(args, " "), after, b)
	}
}

func sortRows(out string) string {
	lines := strings.SplitAfter(out, "\n")
	if len(lines) > 1 {
		sort.Strings(lines[1:])
	}
	return strings.Join(lines, "")
}

// dockerVars point a docker client at the service only.
func (s *service) dockerVars() []string {
	return []string{"DOCKER_HOST=unix://" + s.sock, "DOCKER_CONFIG=" + s.dockerCfg, "DOCKER_CONTEXT=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH="}
}

// dockerEnvList is the environment of a docker process run directly.
func (s *service) dockerEnvList() []string { return append(os.Environ(), s.dockerVars()...) }

// withoutBerthExtras drops what berth prints beyond Docker's lines: the
// vulnerability database's row and paragraph of system df, which no Docker
// daemon has.
func withoutBerthExtras(out string) string {
	var kept []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "Scan Database ") || strings.HasPrefix(l, "Vulnerability database usage:") {
			if n := len(kept); n > 0 && kept[n-1] == "\n" {
				kept = kept[:n-1] // the blank line that opened its paragraph
			}
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "")
}
