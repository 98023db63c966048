package engineapi_test

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
)

// TestDockerCLILocalImages drives the docker CLI through the service over
// the commands of local image work and compares each with berth's own.
func TestDockerCLILocalImages(t *testing.T) {
	s := startService(t)
	s.importImage("busybox:latest", nil, `CMD ["sh"]`)
	s.importImage("app:1", map[string]string{"etc/app": "1"}, "LABEL team=core", "ENV A=1")
	s.importImage("", map[string]string{"etc/dangling": "x"})
	s.berthOK("tag", "app:1", "localhost:5000/team/app:v1")

	for _, args := range [][]string{
		{"images"},
		{"images", "-a"},
		{"images", "--digests"},
		{"images", "--no-trunc"},
		// (images -q: the docker CLI repeats an ID once per name; berth
		// prints each ID once. Compared below on distinct IDs.)
		{"images", "busybox"},
		{"images", "--filter", "dangling=true"},
		{"images", "--filter", "dangling=false"},
		{"images", "--filter", "label=team=core"},
		{"images", "--filter", "reference=*/team/*"},
		{"images", "--filter", "before=app:1"},
		{"images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"},
		{"images", "--format", "table {{.Repository}}\t{{.Tag}}\t{{.CreatedSince}}"},
		{"images", "--format", "json"},
		{"inspect", "busybox"},
		{"image", "inspect", "app:1", "busybox"},
		{"inspect", "--format", "{{.ID}} {{.Config.Cmd}} {{.Config.Labels}} {{.Os}}/{{.Architecture}} {{.Size}}", "app:1"},
		{"inspect", "--format", "{{.Id}} {{.Config.Entrypoint}} {{.Size}}", "busybox"},
		{"history", "app:1"},
		{"history", "--no-trunc", "busybox"},
		{"history", "-H=false", "--format", "{{.ID}} {{.Size}} {{.Comment}}", "busybox"},
		{"history", "-q", "busybox"},
	} {
		if args[0] == "images" {
			sameRows(t, s, args...)
			continue
		}
		sameOutput(t, s, args...)
	}

	if d, b := uniqueLines(s.dockerOK("images", "-q")), s.berthOK("images", "-q"); d != b {
		t.Errorf("images -q: docker (distinct) %q, berth %q", d, b)
	}

	// docker inspect of a name that is no container, network or volume
	// moves on to the image (the 404s), as with the daemon.
	if got := s.dockerOK("inspect", "--format", "{{.Id}}", "busybox"); !strings.HasPrefix(got, "sha256:") {
		t.Errorf("docker inspect busybox: %q", got)
	}
	if r := s.docker(nil, "inspect", "nosuch"); r.Code != 1 || !strings.Contains(r.Stderr, "No such object: nosuch") {
		t.Errorf("docker inspect nosuch: %d %s", r.Code, r.Stderr)
	}
	if r := s.docker(nil, "image", "inspect", "nosuch"); r.Code != 1 || !strings.Contains(r.Stderr, "No such image: nosuch") {
		t.Errorf("docker image inspect nosuch: %d %s", r.Code, r.Stderr)
	}

	// tag, rmi, prune: the docker CLI's lines are berth's.
	s.dockerOK("tag", "busybox", "localhost:5000/bb:2")
	if got := s.berthOK("images", "--format", "{{.Repository}}:{{.Tag}}", "localhost:5000/bb"); got != "localhost:5000/bb:2\n" {
		t.Errorf("after docker tag: %q", got)
	}
	if r := s.docker(nil, "rmi", "app:1"); r.Code != 0 || r.Stdout != "Untagged: app:1\n" {
		t.Errorf("docker rmi app:1: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	id := strings.TrimSpace(s.berthOK("images", "-q", "busybox"))
	if r := s.docker(nil, "rmi", id); r.Code != 1 || !strings.Contains(r.Stderr, "Error response from daemon:") || !strings.Contains(r.Stderr, "must be forced") && !strings.Contains(r.Stderr, "-f") {
		t.Errorf("docker rmi of an ID with two names: %d %q", r.Code, r.Stderr)
	}
	if r := s.docker(nil, "rmi", "nosuch:1"); r.Code != 1 || !strings.Contains(r.Stderr, "No such image: nosuch:1") {
		t.Errorf("docker rmi nosuch: %d %q", r.Code, r.Stderr)
	}
	out := s.dockerOK("image", "prune", "-f")
	if !strings.Contains(out, "Deleted Images:\ndeleted: sha256:") || !strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("docker image prune -f:\n%s", out)
	}
	if got := s.berthOK("images", "-q", "--filter", "dangling=true"); got != "" {
		t.Errorf("dangling images after docker image prune: %q", got)
	}
	out = s.dockerOK("rmi", "-f", id)
	if !strings.Contains(out, "Untagged: busybox:latest") || !strings.Contains(out, "Deleted: sha256:") {
		t.Errorf("docker rmi -f:\n%s", out)
	}
	sameRows(t, s, "images")
	sameOutput(t, s, "system", "df")
	sameOutput(t, s, "system", "df", "-v")
}

// uniqueLines drops repeated lines, keeping the first of each.
func uniqueLines(s string) string {
	seen := map[string]bool{}
	var out strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" && !seen[l] {
			seen[l] = true
			out.WriteString(l)
		}
	}
	return out.String()
}

// TestDockerCLIOverTCP: tcp://127.0.0.1:PORT works as DOCKER_HOST, and the
// service refuses a non-loopback address without TLS.
func TestDockerCLIOverTCP(t *testing.T) {
	bin := testenv.Berth(t)
	root := t.TempDir()
	r := testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", root, "system", "service", "tcp://0.0.0.0:0"}})
	if r.Code != 1 || !strings.Contains(r.Stderr, "without TLS") {
		t.Errorf("non-loopback without TLS: %d %q", r.Code, r.Stderr)
	}
	cmd := exec.Command(bin, "--root", root, "system", "service", "--time", "5", "tcp://127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	host, ok := strings.CutPrefix(strings.TrimSpace(line), "export DOCKER_HOST=")
	if !ok || !strings.HasPrefix(host, "tcp://127.0.0.1:") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("service said %q", line)
	}
	d := testenv.Run(t, dockerCLI(t), testenv.Cmd{Args: []string{"version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"}, Env: []string{"DOCKER_HOST=" + host, "DOCKER_CONFIG=" + t.TempDir(), "DOCKER_CONTEXT="}})
	if d.Code != 0 || d.Stdout != "1.50 linux\n" {
		t.Errorf("docker version over TCP: %d %q %s", d.Code, d.Stdout, d.Stderr)
	}
	// --time 5: it stops by itself once idle.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("service exit after the idle timeout: %v", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Error("the service did not stop after --time 5")
	}
}
