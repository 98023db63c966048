package depcheck

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

const mod = "github.com/berth-dev/berth/internal/"

// allowed lists, per top-level internal package, the internal packages it
// may import. Leaves import none but fsutil; cli wires everything.
var allowed = map[string][]string{
	"fsutil":     {},
	"untrusted":  {}, // and every package may import it (bounded echoes of input)
	"ref":        {},
	"output":     {},
	"testenv":    {},
	"dockerfile": {},
	"auth":       {"fsutil"},
	"sandbox":    {"fsutil"},
	"image":      {"fsutil", "ref"},
	"store":      {"fsutil", "ref", "image"},
	"remote":     {"fsutil", "ref", "image", "output"},
	"archive":    {"fsutil", "ref", "image"},
	"analyze":    {"fsutil", "ref", "image", "archive", "output"},
	"build":      {"fsutil", "ref", "image", "dockerfile", "sandbox", "archive"},
	"registry":   {"fsutil", "ref", "image", "auth"},
	"scan":       {"fsutil", "ref", "image", "archive"},
	"depcheck":   {},
	"engineapi":  {"store", "remote", "ref", "image", "build"},
}

func top(pkg string) string {
	rest := strings.TrimPrefix(pkg, mod)
	first, _, _ := strings.Cut(rest, "/")
	return first
}

func TestDependencyDirection(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./internal/...")
	cmd.Dir = testenv.ModuleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := top(fields[0])
		if pkg == "cli" {
			continue
		}
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("package %s has no dependency rule in depcheck_test.go", fields[0])
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			dep := top(imp)
			if dep == pkg || dep == "testenv" || dep == "untrusted" {
				continue
			}
			found := false
			for _, a := range ok {
				found = found || a == dep
			}
			if !found {
				t.Errorf("%s imports %s, which STYLE.md's dependency direction forbids", fields[0], imp)
			}
		}
	}
}
