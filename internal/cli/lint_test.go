package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/analyze/imagetest"
	"github.com/berth-dev/berth/internal/testenv"
)

// TestLint runs `berth lint` and `berth build --check` as users do:
// outputs, exit codes, the config file, the directives, the context.
func TestLint(t *testing.T) {
	bin := testenv.Berth(t)
	const warns = "FROM alpine:3.20\nRUN apk add curl\nUSER nobody\nCMD echo hi\n"
	cases := []struct {
		name  string
		files map[string]string // the context
		args  []string
		stdin string
		code  int
		out   []string // in stdout
		err   []string // in stderr
		not   []string // not in stdout
	}{
		{name: "warnings exit 0", files: map[string]string{"Dockerfile": warns}, args: []string{"lint"}, code: 0,
			out: []string{"WARNING: ApkAddNoCache - https://github.com/berth-dev/berth/blob/main/README.md#apkaddnocache\n`apk add` leaves the apk cache in /var/cache/apk in this layer\nDockerfile:2\n--------------------\n   1 |     FROM alpine:3.20\n   2 | >>> RUN apk add curl\n",
				"why: the apk index", "fix: use `apk add --no-cache`",
				"WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
				"Check complete, 2 warnings have been found!"}},
		{name: "exit-code fails on warnings", files: map[string]string{"Dockerfile": warns}, args: []string{"lint", "--exit-code", "."}, code: 1},
		{name: "build --check does not build", files: map[string]string{"Dockerfile": warns}, args: []string{"build", "--check", "-t", "x:1", "."}, code: 0,
			out: []string{"WARNING: ApkAddNoCache", "Check complete, 2 warnings have been found!"}, not: []string{"exporting"}},
		{name: "error level exits 1", files: map[string]string{"Dockerfile": "FROM alpine:3.20\nENV KEY=AKIAIOSFODNN7EXAMPLE\nUSER nobody\n"}, args: []string{"build", "--check", "."}, code: 1,
			out: []string{"ERROR: SecretValueInArgOrEnv", "looks like an AWS access key id", "1 error and 1 warning have been found!"}},
		{name: "check=error=true", files: map[string]string{"Dockerfile": "# check=error=true\n" + warns}, args: []string{"lint"}, code: 1,
			out: []string{"ERROR: ApkAddNoCache", "ERROR: JSONArgsRecommended"}},
		{name: "check=skip", files: map[string]string{"Dockerfile": "# check=skip=ApkAddNoCache,JSONArgsRecommended\n" + warns}, args: []string{"lint", "--exit-code"}, code: 0,
			out: []string{"Check complete, no warnings found."}},
		{name: "config file", files: map[string]string{"Dockerfile": warns, ".berth-lint.yaml": "rules:\n  ApkAddNoCache: error\n  JSONArgsRecommended: off\n"}, args: []string{"lint"}, code: 1,
			out: []string{"ERROR: ApkAddNoCache", "Check complete, 1 error has been found!"}, not: []string{"JSONArgsRecommended"}},
		{name: "bad config file", files: map[string]string{"Dockerfile": warns, "my.yaml": "rules:\n  Nope: off\n"}, args: []string{"lint", "--config", "my.yaml"}, code: 1,
			err: []string{`berth: error: reading .berth-lint.yaml: unknown rule "Nope"`, "hint: rules: maps a rule id"}},
		{name: "context without dockerignore", files: map[string]string{"Dockerfile": "FROM alpine:3.20\nCOPY . /src\nUSER nobody\n", ".git/HEAD": "ref: x\n", "node_modules/a/index.js": "x"}, args: []string{"lint"},
			out: []string{"WARNING: MissingDockerignore", "the context holds .git, node_modules and there is no .dockerignore", "   2 | >>> COPY . /src"}},
		{name: "context with dockerignore", files: map[string]string{"Dockerfile": "FROM alpine:3.20\nCOPY . /src\nUSER nobody\n", ".git/HEAD": "ref: x\n", ".dockerignore": ".git\n"}, args: []string{"lint", "--exit-code"}, code: 0},
		{name: "-f and a Dockerfile elsewhere", files: map[string]string{"build/app.Dockerfile": warns}, args: []string{"lint", "-f", "build/app.Dockerfile", "."}, code: 0,
			out: []string{"build/app.Dockerfile:2\n"}},
		{name: "Dockerfile on stdin", files: map[string]string{}, args: []string{"lint", "-f", "-", "."}, stdin: warns, code: 0, out: []string{"WARNING: ApkAddNoCache"}},
		{name: "BuildKit cannot convert", files: map[string]string{"Dockerfile": "ARG TAG\nFROM alpine:$TAG\n"}, args: []string{"lint"}, code: 1,
			out: []string{"WARNING: InvalidDefaultArgInFrom"}, err: []string{"berth: error: Dockerfile:2: failed to parse stage name"}},
		{name: "syntax error", files: map[string]string{"Dockerfile": "FROM alpine:3.20\nRUNN x\n"}, args: []string{"lint"}, code: 1,
			err: []string{"berth: error: Dockerfile:2: unknown instruction: RUNN"}},
		{name: "no Dockerfile", files: map[string]string{}, args: []string{"lint"}, code: 1, err: []string{"berth: error: failed to read dockerfile"}},
		{name: "bad format", files: map[string]string{"Dockerfile": warns}, args: []string{"lint", "--format", "xml"}, code: 125, err: []string{`invalid --format "xml"`}},
		{name: "unknown base: a note", files: map[string]string{"Dockerfile": "FROM example.com/base:1\nCOPY $X /x\nUSER 1\n"}, args: []string{"lint"}, code: 0,
			err: []string{"note: UndefinedVar is not checked in stages FROM example.com/base:1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range c.files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := testenv.Cmd{Args: append([]string{"--root", filepath.Join(t.TempDir(), "root")}, c.args...), Dir: dir}
			if c.stdin != "" {
				cmd.Stdin = strings.NewReader(c.stdin)
			}
			r := testenv.Run(t, bin, cmd)
			if r.Code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.Code, c.code, r.Stdout, r.Stderr)
			}
			for _, w := range c.out {
				if !strings.Contains(r.Stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.Stdout)
				}
			}
			for _, w := range c.err {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.Stderr)
				}
			}
			for _, w := range c.not {
				if strings.Contains(r.Stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, r.Stdout)
				}
			}
		})
	}
}

// TestLintFormats: --format json and sarif carry every finding.
func TestLintFormats(t *testing.T) {
	bin := testenv.Berth(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM alpine\nENV K=AKIAIOSFODNN7EXAMPLE\nRUN apk add x\n"), 0o644)
	run := func(format string) []byte {
		r := testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", filepath.Join(dir, "root"), "lint", "--format", format}, Dir: dir})
		if r.Code != 1 {
			t.Fatalf("%s: exit %d, want 1 (an error-level finding)\n%s", format, r.Code, r.Stderr)
		}
		return []byte(r.Stdout)
	}
	var js struct {
		File     string
		Findings []struct {
			Rule, Level, File, Message, Why, Fix, URL string
			Line, EndLine                             int
		}
		Errors, Warnings int
	}
	if err := json.Unmarshal(run("json"), &js); err != nil {
		t.Fatal(err)
	}
	rules := map[string]string{}
	for _, f := range js.Findings {
		rules[f.Rule] = f.Level
		if f.Why == "" || f.Fix == "" || f.URL == "" || f.File != "Dockerfile" {
			t.Errorf("incomplete finding %+v", f)
		}
	}
	if rules["SecretValueInArgOrEnv"] != "error" || rules["ApkAddNoCache"] != "warning" || rules["BaseImageNotPinned"] != "warning" || js.Errors != 1 {
		t.Errorf("json findings %v (errors %d)", rules, js.Errors)
	}

	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string
					Rules []struct {
						ID      string `json:"id"`
						HelpURI string `json:"helpUri"`
					}
				}
			}
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           *struct{ StartLine, EndLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(run("sarif"), &sarif); err != nil {
		t.Fatal(err)
	}
	if sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) != len(js.Findings) {
		t.Fatalf("sarif: version %q, %d runs, want %d results: %+v", sarif.Version, len(sarif.Runs), len(js.Findings), sarif)
	}
	run0 := sarif.Runs[0]
	for _, res := range run0.Results {
		if run0.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %s points at rule %d", res.RuleID, res.RuleIndex)
		}
		if res.RuleID == "SecretValueInArgOrEnv" {
			loc := res.Locations[0].PhysicalLocation
			if res.Level != "error" || loc.ArtifactLocation.URI != "Dockerfile" || loc.Region == nil || loc.Region.StartLine != 2 {
				t.Errorf("secret result %+v", res)
			}
		}
	}
}

// TestLintBaseFromStore: a base image berth holds answers for its config,
// so UndefinedVar runs in its stages (and no note says it could not).
func TestLintBaseFromStore(t *testing.T) {
	bin := testenv.Berth(t)
	dir, root := t.TempDir(), filepath.Join(t.TempDir(), "root")
	archive := filepath.Join(dir, "base.tar")
	if err := imagetest.WriteDockerArchive(archive, "lintbase:1", dir, []imagetest.Layer{{CreatedBy: "base", Files: []imagetest.File{{Path: "bin/sh", Size: 10, Seed: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if r := testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", root, "load", "-i", archive}}); r.Code != 0 {
		t.Fatalf("load: %s", r.Stderr)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM lintbase:1\nCOPY $NOPE /x\nUSER 1000\n"), 0o644)
	r := testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", root, "lint", "."}, Dir: dir})
	if r.Code != 0 || !strings.Contains(r.Stdout, "WARNING: UndefinedVar") || strings.Contains(r.Stderr, "note:") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	// The same Dockerfile with a base berth does not hold: a note instead.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM lintbase:2\nCOPY $NOPE /x\nUSER 1000\n"), 0o644)
	r = testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", root, "lint", "."}, Dir: dir})
	if r.Code != 0 || strings.Contains(r.Stdout, "UndefinedVar") || !strings.Contains(r.Stderr, "note: UndefinedVar is not checked in stages FROM lintbase:2") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}
