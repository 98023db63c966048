package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// TestShellCompletion sources the script `berth completion SHELL` prints
// into a real bash, zsh and fish, asks each for the completions of a
// command line, and checks what the shell gets back through the script's
// call of `berth __complete`: store names, logged-in registries, and the
// values of --platform, --format and --progress.
func TestShellCompletion(t *testing.T) {
	c := newCLI(t)
	c.importImage("busybox:latest", nil)
	c.ok("tag", "busybox", "localhost:5000/team/app:2")
	bin := t.TempDir()
	if err := os.Symlink(c.bin, filepath.Join(bin, "berth")); err != nil {
		t.Fatal(err)
	}
	cfg := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{"registry.example.com":{"auth":"dTpw"}},"credHelpers":{"123.dkr.ecr.us-east-1.amazonaws.com":"ecr-login"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "BERTH_ROOT="+c.root, "DOCKER_CONFIG="+cfg)

	// Each shell's way of asking for the completions of words (the last
	// one being completed) and printing them one per line.
	shells := map[string]func(t *testing.T, words []string) string{
		"bash": func(t *testing.T, words []string) string {
			bash := testenv.Peer(t, "bash")
			lib := "/usr/share/bash-completion/bash_completion"
			if _, err := os.Stat(lib); err != nil {
				if os.Getenv("BERTH_REQUIRE_PEERS") == "1" {
					t.Fatalf("bash-completion is not installed (scripts/test.sh installs it): %v", err)
				}
				t.Skipf("bash-completion is not installed: %v", err)
			}
			line := strings.Join(words, " ")
			script := "source " + lib + "; source <(berth completion bash); COMP_WORDS=(" + shellWords(words) + "); COMP_CWORD=" +
				itoa(len(words)-1) + "; COMP_LINE=" + shellQuote(line) + "; COMP_POINT=${#COMP_LINE}; __start_berth 2>/dev/null; printf '%s\\n' \"${COMPREPLY[@]}\""
			return runShell(t, env, bash, "-c", script)
		},
		"zsh": func(t *testing.T, words []string) string {
			zsh := testenv.Peer(t, "zsh")
			// The script hands its results to _describe and compadd; here
			// they print them instead of drawing a menu.
			script := "autoload -U compinit; compinit -u -D; source <(berth completion zsh); " +
				"_describe() { shift; local arr=${1}; print -l -- ${(P)arr}; }; compadd() { print -l -- \"$@\"; }; " +
				"words=(" + shellWords(words) + "); CURRENT=" + itoa(len(words)) + "; _berth"
			return runShell(t, env, zsh, "-c", script)
		},
		"fish": func(t *testing.T, words []string) string {
			fish := testenv.Peer(t, "fish")
			return runShell(t, env, fish, "-c", "source (berth completion fish | psub); complete -C "+shellQuote(strings.Join(words, " ")))
		},
	}
	cases := []struct {
		words []string
		want  []string
	}{
		{[]string{"berth", "tag", "bu"}, []string{"busybox:latest"}},
		{[]string{"berth", "rmi", "local"}, []string{"localhost:5000/team/app:2"}},
		{[]string{"berth", "pull", "reg"}, []string{"registry.example.com/"}},
		{[]string{"berth", "login", ""}, []string{"registry.example.com", "123.dkr.ecr.us-east-1.amazonaws.com"}},
		{[]string{"berth", "build", "--platform", "linux/arm"}, []string{"linux/arm64", "linux/arm/v7"}},
		{[]string{"berth", "images", "--format", ""}, []string{"table", "json"}},
		{[]string{"berth", "build", "--progress", ""}, []string{"plain", "rawjson"}},
	}
	for name, ask := range shells {
		t.Run(name, func(t *testing.T) {
			for _, tc := range cases {
				got := ask(t, tc.words)
				for _, w := range tc.want {
					if !containsLine(got, w) {
						t.Errorf("%s: completing %q: no %q in\n%s", name, strings.Join(tc.words, " "), w, got)
					}
				}
			}
		})
	}
}

func runShell(t *testing.T, env []string, sh string, args ...string) string {
	t.Helper()
	cmd := exec.Command(sh, args...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", sh, args, err, out)
	}
	return string(out)
}

func containsLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		// fish prints "word<TAB>description".
		if w, _, _ := strings.Cut(l, "\t"); strings.TrimSpace(w) == want {
			return true
		}
	}
	return false
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func shellWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

func itoa(n int) string { return strconv.Itoa(n) }
