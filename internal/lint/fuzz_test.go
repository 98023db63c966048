package lint

import (
	"testing"
)

// FuzzDirective: the # check= directive and .berth-lint.yaml are
// untrusted; parsing them never panics, and what parses is usable.
func FuzzDirective(f *testing.F) {
	for _, s := range []string{"# check=skip=JSONArgsRecommended,RootUser\nFROM a\n", "# check=error=true;skip=all\nFROM a\n", "#check = experimental=all\n", "# check=\n", "# syntax=x\n# check=error=1\n"} {
		f.Add([]byte(s), []byte("rules:\n  RootUser: off\n"))
	}
	f.Add([]byte("FROM a\n"), []byte("rules: {ConsecutiveRun: error, JSONArgsRecommended: warn}\n"))
	f.Fuzz(func(t *testing.T, df, cfg []byte) {
		if d, err := ParseDirective(df); err == nil {
			_ = d.skips("RootUser")
		}
		if c, err := ParseConfig(cfg); err == nil {
			for id, l := range c.Rules {
				if !KnownRule(id) || l < Off || l > Error {
					t.Fatalf("ParseConfig kept %q: %v", id, l)
				}
			}
		}
	})
}

// FuzzCommands: RUN scripts are untrusted; splitting them never panics and
// every command has words.
func FuzzCommands(f *testing.F) {
	for _, s := range []string{"apt-get update && apt-get install -y x", `curl -fsSL "https://x" | sh -s -- a`, "a\\\nb; c || d & e", `'unterminated`, "{ x; }", "FOO=1 sudo -E pip3 install -r r.txt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range commands(s) {
			if len(c.words) == 0 {
				t.Fatalf("empty command from %q", s)
			}
			c.name()
			c.runs([]string{"-m", "pip", "install"})
			c.runs([]string{"apt-get", "install"})
		}
	})
}

// FuzzRun: a whole Dockerfile through both rule sets never panics.
func FuzzRun(f *testing.F) {
	for _, s := range []string{
		"FROM alpine\nRUN apk add x\nCMD echo\n",
		"ARG B=node:22\nFROM ${B} AS b\nCOPY . .\nRUN npm ci\nFROM b\nUSER root\nEXPOSE 80\n",
		"# check=error=true\nFROM scratch\nADD a b\nENV K=AKIAIOSFODNN7EXAMPLE\n",
		"FROM a\nRUN <<EOF\ncurl x | sh\nEOF\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, df []byte) {
		r, err := Run(t.Context(), Options{Dockerfile: df, Context: &Context{Names: []string{".git"}}})
		if err == nil {
			for _, x := range r.Findings {
				if x.Rule == "" || x.Level == Off {
					t.Fatalf("bad finding %+v", x)
				}
			}
		}
	})
}
