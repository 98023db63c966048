package engineapi_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerCLIBuild: docker build without buildx (the legacy builder API)
// through the service, with the flags of everyday builds.
func TestDockerCLIBuild(t *testing.T) {
	s := startService(t)
	s.importImage("busybox:latest", nil, `CMD ["sh"]`)
	dir := t.TempDir()
	df := "FROM busybox AS base\nARG V=1\nRUN echo hello $V > /greet\nFROM base AS final\nARG V\nLABEL version=$V\nCMD [\"cat\", \"/greet\"]\nFROM final AS extra\nRUN exit 9\n"
	os.WriteFile(filepath.Join(dir, "Other.df"), []byte(df), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nCOPY note /note\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "note"), []byte("n\n"), 0o644)
	iid := filepath.Join(dir, "iid")

	for _, env := range []string{"", "0"} { // buildx missing, then DOCKER_BUILDKIT=0: both use the classic API
		r := s.dockerEnv([]string{"DOCKER_BUILDKIT=" + env}, nil, "build", "-t", "built:1", "-t", "built:2", "--build-arg", "V=7", "--target", "final",
			"--no-cache", "-f", filepath.Join(dir, "Other.df"), "--iidfile", iid, dir)
		if r.Code != 0 {
			t.Fatalf("docker build (DOCKER_BUILDKIT=%q): exit %d\n%s%s", env, r.Code, r.Stdout, r.Stderr)
		}
		id := strings.TrimSpace(s.berthOK("inspect", "-f", "{{.ID}}", "built:1"))
		if !strings.Contains(r.Stdout, "Successfully built "+strings.TrimPrefix(id, "sha256:")[:12]+"\n") ||
			!strings.Contains(r.Stdout, "Successfully tagged built:1\nSuccessfully tagged built:2\n") {
			t.Errorf("docker build output:\n%s", r.Stdout)
		}
		if !regexp.MustCompile(`(?m)^#\d+ \[base 2/2\] RUN echo hello \$V > /greet$`).MatchString(r.Stdout) {
			t.Errorf("no step lines in the build output:\n%s", r.Stdout)
		}
		if b, _ := os.ReadFile(iid); string(b) != id {
			t.Errorf("--iidfile %q, want %q (the aux ID)", b, id)
		}
		if got := s.berthOK("inspect", "-f", "{{.Config.Labels.version}} {{.Config.Cmd}}", "built:2"); got != "7 [cat /greet]\n" {
			t.Errorf("built image: %q", got)
		}
	}

	// What docker shows of a built image is what berth shows.
	for _, args := range [][]string{{"inspect", "built:1"}, {"history", "built:1"}, {"history", "--no-trunc", "built:2"}} {
		sameOutput(t, s, args...)
	}
	sameRows(t, s, "images", "built")

	// -q prints the ID only.
	r := s.docker(nil, "build", "-q", "-t", "copied:1", dir)
	id := strings.TrimSpace(s.berthOK("inspect", "-f", "{{.ID}}", "copied:1"))
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != id {
		t.Errorf("docker build -q: %d %q, want %q\n%s", r.Code, r.Stdout, id, r.Stderr)
	}

	// A failing RUN: docker exits with the command's status, and says
	// which step; nothing is tagged, no build directory is left.
	r = s.docker(nil, "build", "-t", "broken:1", "-f", filepath.Join(dir, "Other.df"), dir)
	if r.Code != 9 || !strings.Contains(r.Stderr, `RUN exit 9`) || !strings.Contains(r.Stderr, "exit code: 9") {
		t.Errorf("failing build: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if b := s.berthRun(nil, "inspect", "broken:1"); b.Code == 0 {
		t.Error("a failed build was tagged")
	}
	if left, _ := filepath.Glob(filepath.Join(s.root, "build", "tmp", "build-*")); len(left) != 0 {
		t.Errorf("build directories left: %v", left)
	}
}
