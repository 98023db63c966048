package depcheck

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

const module = "github.com/berth-dev/berth/"

// rule is one package's row: what it may import, exactly.
type rule struct {
	// imports: every package of this module it imports (module-relative),
	// no more and no fewer.
	imports []string
	// leaf: STYLE.md's leaves (and the leaf-like subpackages below them)
	// import only other leaves of this module, and ext lists every
	// third-party package they import, exactly.
	leaf bool
	ext  []string
	// forbid: standard or third-party packages that must not be reached
	// even transitively (the storage driver contract and the identity code
	// know nothing of HTTP).
	forbid []string
}

// rules pins the real dependency graph of every package in the module,
// cmd/ and bench/ included. An edge the code uses and the table does not
// allow fails, and so does an edge the table allows and the code does not
// use, so the table stays exactly the graph. To add a package or an import:
// add its row (or the import to its row), keeping STYLE.md's direction —
// leaves below image, image below store/remote/archive/analyze, those below
// build/registry/scan, cli and engineapi on top. The failure message prints
// the row to paste.
var rules = map[string]rule{
	"cmd/berth": {imports: []string{"internal/cli", "internal/sandbox"}},

	// Leaves.
	"internal/fsutil":              {leaf: true, imports: []string{"internal/untrusted"}, ext: []string{"golang.org/x/sys/unix"}},
	"internal/ref":                 {leaf: true, ext: []string{"github.com/google/go-containerregistry/pkg/name"}},
	"internal/output":              {leaf: true},
	"internal/untrusted":           {leaf: true},
	"internal/dockerfile":          {leaf: true, ext: []string{"github.com/moby/buildkit/frontend/dockerfile/instructions", "github.com/moby/buildkit/frontend/dockerfile/parser", "github.com/moby/buildkit/frontend/dockerfile/shell", "github.com/moby/patternmatcher", "github.com/moby/patternmatcher/ignorefile"}},
	"internal/auth":                {leaf: true, ext: []string{"github.com/go-jose/go-jose/v4", "github.com/go-jose/go-jose/v4/jwt", "golang.org/x/crypto/bcrypt"}, forbid: []string{"net/http"}, imports: []string{"internal/untrusted"}},
	"internal/sandbox":             {leaf: true, imports: []string{"internal/fsutil", "internal/sandbox/layerdiff", "internal/sandbox/seccomp", "internal/sandbox/snapshot"}, ext: []string{"golang.org/x/sys/unix"}},
	"internal/sandbox/seccomp":     {leaf: true, ext: []string{"github.com/elastic/go-seccomp-bpf/arch", "github.com/moby/profiles/seccomp", "github.com/opencontainers/runtime-spec/specs-go", "golang.org/x/net/bpf", "golang.org/x/sys/unix"}},
	"internal/sandbox/layerdiff":   {leaf: true, ext: []string{"golang.org/x/sys/unix"}},
	"internal/sandbox/snapshot":    {leaf: true, imports: []string{"internal/fsutil"}, ext: []string{"github.com/google/go-containerregistry/pkg/v1", "golang.org/x/sys/unix"}},
	"internal/registry/storage":    {leaf: true, ext: []string{"golang.org/x/sys/unix"}, forbid: []string{"net/http"}},
	"internal/registry/config":     {leaf: true, ext: []string{"gopkg.in/yaml.v3"}},
	"internal/build/remotecontext": {leaf: true, imports: []string{"internal/fsutil", "internal/untrusted"}},
	"internal/pkgcache":            {leaf: true},

	// The image model: on the leaves only (never store or remote).
	"internal/image": {imports: []string{"internal/fsutil", "internal/untrusted"}},

	// On the model.
	"internal/store":       {imports: []string{"internal/fsutil", "internal/image", "internal/ref", "internal/untrusted"}},
	"internal/remote":      {imports: []string{"internal/fsutil", "internal/image", "internal/ref", "internal/untrusted"}},
	"internal/archive":     {imports: []string{"internal/fsutil", "internal/image", "internal/ref", "internal/untrusted"}},
	"internal/analyze":     {imports: []string{"internal/image", "internal/pkgcache"}},
	"internal/analyze/tui": {imports: []string{"internal/analyze"}},

	// Areas.
	"internal/build":               {imports: []string{"internal/archive", "internal/build/remotecontext", "internal/dockerfile", "internal/fsutil", "internal/image", "internal/ref", "internal/untrusted"}},
	"internal/registry":            {imports: []string{"internal/registry/storage", "internal/untrusted"}},
	"internal/registry/storage/s3": {imports: []string{"internal/registry/storage"}},
	"internal/registry/notify":     {imports: []string{"internal/registry", "internal/untrusted"}},
	"internal/registry/serve":      {imports: []string{"internal/auth", "internal/registry", "internal/registry/config", "internal/registry/notify", "internal/registry/storage", "internal/registry/storage/s3", "internal/registry/ui"}},
	"internal/registry/ui":         {imports: []string{"internal/analyze", "internal/image", "internal/registry"}, forbid: []string{"github.com/chromedp/chromedp"}},
	"internal/scan":                {},
	// lint: BuildKit's Dockerfile front end over the leaves; no store, no
	// registry client (base configs come through Options.BaseImage).
	"internal/lint":        {imports: []string{"internal/dockerfile", "internal/pkgcache", "internal/ref"}},
	"internal/scan/report": {imports: []string{"internal/output", "internal/scan"}},
	"internal/scan/vulndb": {imports: []string{"internal/fsutil", "internal/untrusted"}},

	// Front ends: where concrete implementations meet.
	"internal/engineapi": {imports: []string{"internal/build", "internal/image", "internal/ref", "internal/remote", "internal/store", "internal/untrusted"}},
	"internal/cli": {imports: []string{
		"internal/analyze", "internal/analyze/tui", "internal/archive", "internal/auth", "internal/build",
		"internal/build/remotecontext", "internal/engineapi", "internal/fsutil", "internal/image",
		"internal/lint", "internal/output", "internal/ref", "internal/registry", "internal/registry/config", "internal/registry/serve",
		"internal/remote", "internal/sandbox", "internal/sandbox/snapshot", "internal/scan", "internal/scan/report",
		"internal/scan/vulndb", "internal/store", "internal/untrusted",
	}},

	// Test helpers: only tests (and bench tools) import them.
	"internal/testenv":                      {},
	"internal/analyze/imagetest":            {},
	"internal/auth/authtest":                {imports: []string{"internal/auth"}},
	"internal/registry/storage/storagetest": {imports: []string{"internal/registry/storage"}},
	"internal/remote/remotetest":            {imports: []string{"internal/testenv"}},
	"internal/scan/scantest":                {},
	"internal/scan/scantest/osvmirror":      {imports: []string{"internal/scan/scantest"}},
	"internal/store/storetest":              {imports: []string{"internal/store"}},
	"internal/depcheck":                     {},

	// Benchmark tools.
	"bench/divegen":        {imports: []string{"internal/analyze/imagetest"}},
	"bench/mkimages":       {imports: []string{"internal/image", "internal/store"}},
	"bench/remote-floor":   {},
	"bench/remote-mkimage": {},
	"bench/rrproxy":        {},
	"bench/s3put":          {imports: []string{"internal/registry/storage", "internal/registry/storage/s3"}},
}

// testHelper reports a package only tests may import: testenv, and any
// package under a directory named *test.
func testHelper(pkg string) bool {
	for _, el := range strings.Split(pkg, "/") {
		if el == "testenv" || strings.HasSuffix(el, "test") {
			return true
		}
	}
	return false
}

type pkgInfo struct {
	imports []string // direct imports, full paths
	deps    []string // transitive
	std     bool
}

// graph reads the module's packages and their imports from go list.
func graph(t *testing.T) map[string]pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}|{{.Standard}}|{{join .Imports " "}}|{{join .Deps " "}}`, "./...")
	cmd.Dir = testenv.ModuleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := map[string]pkgInfo{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 4 {
			t.Fatalf("go list line %q", line)
		}
		g[f[0]] = pkgInfo{imports: strings.Fields(f[2]), deps: strings.Fields(f[3]), std: f[1] == "true"}
	}
	return g
}

func TestDependencyGraph(t *testing.T) {
	g := graph(t)
	var pkgs []string
	for p := range g {
		if rel, ok := strings.CutPrefix(p, module); ok {
			pkgs = append(pkgs, rel)
		}
	}
	sort.Strings(pkgs)
	seen := map[string]bool{}
	for _, rel := range pkgs {
		seen[rel] = true
		info := g[module+rel]
		var internal, ext []string
		for _, imp := range info.imports {
			if r, ok := strings.CutPrefix(imp, module); ok {
				internal = append(internal, r)
			} else if !g[imp].std {
				ext = append(ext, imp)
			}
		}
		r, ok := rules[rel]
		if !ok {
			t.Errorf("%s has no row in depcheck_test.go; add one (check the direction against STYLE.md):\n\t%q: {imports: []string{%s}},", rel, rel, quoteList(internal))
			continue
		}
		checkExact(t, rel, "imports", internal, r.imports)
		if r.leaf {
			checkExact(t, rel, "third-party imports (ext)", ext, r.ext)
			for _, imp := range internal {
				if dep, ok := rules[imp]; ok && !dep.leaf {
					t.Errorf("%s is a leaf but imports %s, which is not one", rel, imp)
				}
			}
		} else if len(r.ext) > 0 {
			t.Errorf("%s: ext is pinned only for leaves", rel)
		}
		for _, f := range r.forbid {
			for _, d := range append(info.deps, info.imports...) {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s reaches %s (through its imports), which its row forbids", rel, d)
					break
				}
			}
		}
		if !testHelper(rel) && !strings.HasPrefix(rel, "bench/") {
			for _, imp := range internal {
				if testHelper(imp) {
					t.Errorf("%s is production code but imports the test helper %s", rel, imp)
				}
			}
		}
	}
	for rel := range rules {
		if !seen[rel] {
			t.Errorf("depcheck_test.go has a row for %s, which is not a package of the module: remove it", rel)
		}
	}
}

// checkExact compares what a package imports with its row, both ways.
func checkExact(t *testing.T, pkg, what string, got, allowed []string) {
	t.Helper()
	have := map[string]bool{}
	for _, g := range got {
		have[g] = true
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
		if !have[a] {
			t.Errorf("%s: its row allows %s in %s, which it does not use: remove it from the row", pkg, a, what)
		}
	}
	for _, g := range got {
		if !ok[g] {
			t.Errorf("%s imports %s, which its row's %s does not allow: add it if STYLE.md's direction allows it, else move the code", pkg, g, what)
		}
	}
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
