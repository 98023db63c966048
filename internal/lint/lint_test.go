package lint

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/dockerfile"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// render is a report as the golden files hold it: one finding a line.
func render(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%d-%d %s %s: %s\n", f.Line, f.EndLine, f.Level, f.Rule, f.Message)
	}
	if r.BuildError != nil {
		fmt.Fprintf(&b, "error: %s\n", r.BuildError)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// lintDir checks name.Dockerfile in dir with the case's context: the names
// listed in context.txt and name.dockerignore when present.
func lintDir(t *testing.T, dir, name string) *Report {
	t.Helper()
	df, err := os.ReadFile(filepath.Join(dir, name+".Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Dockerfile: df}
	if names, err := os.ReadFile(filepath.Join(dir, "context.txt")); err == nil {
		o.Context = &Context{Names: strings.Fields(string(names))}
		if ig, err := os.ReadFile(filepath.Join(dir, name+".dockerignore")); err == nil {
			if o.Context.Ignore, err = dockerfile.ParseIgnore(ig); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestRules checks every rule on its golden Dockerfiles: bad.Dockerfile
// must fire it, good.Dockerfile must not, and both reports must match their
// golden files whole (so a rule firing where it should not shows up too).
func TestRules(t *testing.T) {
	dirs, err := filepath.Glob("testdata/rules/*")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		rule := filepath.Base(dir)
		seen[rule] = true
		t.Run(rule, func(t *testing.T) {
			if !KnownRule(rule) {
				t.Fatalf("testdata/rules/%s names no rule", rule)
			}
			for _, name := range []string{"bad", "good"} {
				r := lintDir(t, dir, name)
				fired := false
				for _, f := range r.Findings {
					fired = fired || f.Rule == rule
				}
				if fired != (name == "bad") {
					t.Errorf("%s.Dockerfile: %s fired=%v, want %v:\n%s", name, rule, fired, name == "bad", render(r))
				}
				golden(t, filepath.Join(dir, name+".golden"), render(r))
			}
		})
	}
	for _, r := range rules {
		if !seen[r.ID] {
			t.Errorf("rule %s has no testdata/rules/%s", r.ID, r.ID)
		}
	}
}

// TestPatterns: the Dockerfiles of the common patterns, well written, give
// no finding at all.
func TestPatterns(t *testing.T) {
	dirs, err := filepath.Glob("testdata/patterns/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 3 {
		t.Fatalf("want the Node, Go and Python patterns, have %v", dirs)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := lintDir(t, dir, "good")
			if len(r.Findings) > 0 {
				t.Errorf("false positives:\n%s", render(r))
			}
		})
	}
}

// TestREADMEListsRules keeps README.md's rule list true: every rule id, with
// the anchor its findings link to.
func TestREADMEListsRules(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		if want := fmt.Sprintf("<a id=%q></a>`%s` (%s)", strings.ToLower(r.ID), r.ID, r.Level); !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks %s", want)
		}
	}
	for id := range buildkitAdvice {
		if !strings.Contains(string(readme), "- `"+id+"`: ") {
			t.Errorf("README.md lacks BuildKit's rule %s", id)
		}
	}
}

// TestReviewed: Dockerfiles as people write them, each with review.txt,
// the rules an experienced reviewer flags in it. berth must flag exactly
// those: a rule more is a false positive, a rule less a miss.
func TestReviewed(t *testing.T) {
	dirs, err := filepath.Glob("testdata/reviewed/*")
	if err != nil || len(dirs) == 0 {
		t.Fatal("no reviewed Dockerfiles", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			review, err := os.ReadFile(filepath.Join(dir, "review.txt"))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, id := range strings.Fields(string(review)) {
				want[id] = true
			}
			r := lintDir(t, dir, "input")
			got := map[string]bool{}
			for _, f := range r.Findings {
				got[f.Rule] = true
				if !want[f.Rule] {
					t.Errorf("not what a reviewer flags: %d %s: %s", f.Line, f.Rule, f.Message)
				}
			}
			for id := range want {
				if !got[id] {
					t.Errorf("missed %s:\n%s", id, render(r))
				}
			}
		})
	}
}
