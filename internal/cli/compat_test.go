package cli_test

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// TestDockerCommandLineErrors runs wrong command lines through the real
// docker client and through berth: the exit status must be the same and
// berth's error line must carry docker's words with "docker" replaced by
// "berth". Every case fails in the client before any daemon call, so the
// daemon's state does not matter.
func TestDockerCommandLineErrors(t *testing.T) {
	docker := testenv.Peer(t, "docker")
	c := newCLI(t)
	cases := [][]string{
		{"image", "lss"},
		{"system", "dff"},
		{"builder", "dff"},
		{"bogus"},
		{"tag", "a"},
		{"tag"},
		{"rmi"},
		{"images", "a", "b"},
		{"image", "ls", "a", "b"},
		{"image", "list", "a", "b"},
		{"image", "remove"},
		{"image", "inspect"},
		{"history"},
		{"load", "x"},
		{"image", "prune", "x"},
		{"push"},
		{"pull"},
		{"save"},
		{"import"},
		{"search"},
		{"login", "a", "b"},
		{"logout", "a", "b"},
		{"version", "x"},
		{"system", "df", "x"},
		{"system", "prune", "x"},
		{"builder", "prune", "x"},
		{"tag", "Bad:Name", "x"},
		{"tag", "busybox", "Bad:Name"},
		{"pull", "Bad:Name"},
		{"pull", "user/App:1"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			d := testenv.Run(t, docker, testenv.Cmd{Args: args, Env: []string{"DOCKER_CONFIG=" + t.TempDir()}})
			want := firstLine(skipDeprecation(d.Stderr))
			want = strings.TrimPrefix(want, "docker: ")
			want = strings.ReplaceAll(want, "docker", "berth")
			if d.Code == 0 || want == "" {
				t.Fatalf("docker %v: exit %d, stderr %q: the case no longer fails in the client", args, d.Code, d.Stderr)
			}
			out, errs, code := c.run(nil, args...)
			if code != d.Code {
				t.Errorf("exit %d, docker's %d\nberth: %s\ndocker: %s", code, d.Code, errs, d.Stderr)
			}
			if !strings.HasPrefix(errs, "berth: error: ") || !strings.Contains(firstLine(errs), want) {
				t.Errorf("stderr %q, want one error line with docker's %q", errs, want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing (no help text on a wrong command line)", out)
			}
		})
	}
}

// skipDeprecation drops the legacy builder's notice docker prints before
// the error when buildx is not installed.
func skipDeprecation(s string) string {
	if strings.HasPrefix(s, "DEPRECATED:") {
		if _, rest, ok := strings.Cut(s, "\n\n"); ok {
			return rest
		}
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// TestGroupAliases checks Docker's other names of berth's commands and that a
// group alone prints its help and exits 0, as docker's do.
func TestGroupAliases(t *testing.T) {
	c := newCLI(t)
	c.importImage("busybox:latest", nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "list"}, "busybox      latest"},
		{[]string{"image", "ls"}, "busybox      latest"},
		{[]string{"image"}, "Available Commands"},
		{[]string{"system"}, "Available Commands"},
		{[]string{"builder"}, "Available Commands"},
		{[]string{"builder", "du"}, "Reclaimable:"},
		{[]string{"info"}, "Storage Driver: berth"},
		{[]string{"system", "info", "--format", "{{.Images}} {{.Driver}}"}, "1 berth"},
		{[]string{"buildx", "du", "--verbose"}, "Total:"},
		{[]string{"image", "remove", "busybox"}, "Untagged: busybox:latest"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if out := c.ok(tc.args...); !strings.Contains(out, tc.want) {
				t.Errorf("stdout lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
