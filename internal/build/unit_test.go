package build

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/dockerfile"
)

// TestContextIndex checks that files are hashed once and re-hashed only when
// size, mtime or inode change: a content change that keeps all three is
// (deliberately) not seen, any stat change is.
func TestContextIndex(t *testing.T) {
	ctx := context.Background()
	dir, state := t.TempDir(), t.TempDir()
	p := filepath.Join(dir, "a.txt")
	mtime := time.Unix(1700000000, 0)
	writeAt := func(data string, when time.Time) {
		t.Helper()
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(data)
		f.Close()
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	digest := func() string {
		t.Helper()
		c := newContextFS(dir, nil, state)
		ents, err := c.match("a.txt")
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.digestOf(ctx, ents[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := c.save(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	writeAt("one", mtime)
	first := digest()
	steps := []struct {
		name    string
		change  func()
		changed bool
	}{
		{"nothing", func() {}, false},
		// Same size and mtime, other bytes: only ctime (set by the kernel on
		// every write) tells, and it must.
		{"same size and mtime, other bytes", func() { writeAt("two", mtime) }, true},
		{"mtime", func() { writeAt("tw0", mtime.Add(time.Second)) }, true},
		{"size", func() { writeAt("three", mtime.Add(time.Second)) }, true},
		{"inode", func() {
			// A new file renamed over the old one: both exist at once, so
			// the inode differs; size and mtime stay the same.
			tmp := p + ".new"
			os.WriteFile(tmp, []byte("thre3"), 0o644)
			os.Chtimes(tmp, mtime.Add(time.Second), mtime.Add(time.Second))
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	prev := first
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change()
			d := digest()
			if (d != prev) != s.changed {
				t.Fatalf("digest %s after %q, before %s; want changed=%v", d, s.name, prev, s.changed)
			}
			prev = d
		})
	}
}

func TestContextIgnoreAndMatch(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"src/a.go", "src/b.go", "src/x/c.go", "docs/r.md", "docs/keep.md", "main.go"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644)
	}
	ig, err := dockerfile.ParseIgnore([]byte("docs\n!docs/keep.md\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := newContextFS(dir, ig, "")
	tests := []struct {
		src  string
		want []string
	}{
		{"src/*.go", []string{"src/a.go", "src/b.go"}},
		{"/main.go", []string{"main.go"}},
		{"docs/*", []string{"docs/keep.md"}},
		{"src", []string{"src"}},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			ents, err := c.match(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, e.rel)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
	if _, err := c.match("docs/r.md"); err == nil {
		t.Error("an ignored file matched")
	}
	var under []string
	for _, e := range c.under("src") {
		under = append(under, e.rel)
	}
	if want := []string{"src/a.go", "src/b.go", "src/x", "src/x/c.go"}; !reflect.DeepEqual(under, want) {
		t.Errorf("under(src) = %v, want %v", under, want)
	}
}

func TestHelpers(t *testing.T) {
	t.Run("ports", func(t *testing.T) {
		for in, want := range map[string][]string{"80": {"80/tcp"}, "53/UDP": {"53/udp"}, "8000-8002/tcp": {"8000/tcp", "8001/tcp", "8002/tcp"}} {
			got, err := parsePorts(in)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("parsePorts(%q) = %v, %v", in, got, err)
			}
		}
		for _, bad := range []string{"x", "70000", "9-1"} {
			if _, err := parsePorts(bad); err == nil {
				t.Errorf("parsePorts(%q) accepted", bad)
			}
		}
	})
	t.Run("owner", func(t *testing.T) {
		tree := &fsTree{passwd: []byte("root:x:0:0::/:/bin/sh\napp:x:1000:1001::/:/bin/sh\n"), group: []byte("root:x:0:\nstaff:x:50:\n")}
		tests := []struct {
			spec     string
			uid, gid int
			ok       bool
		}{
			{"app", 1000, 1001, true}, {"app:staff", 1000, 50, true}, {"7", 7, 7, true}, {"7:8", 7, 8, true},
			{"nobody", 0, 0, false}, {"app:nogroup", 0, 0, false},
		}
		for _, tc := range tests {
			uid, gid, err := resolveOwner(tree, tc.spec)
			if (err == nil) != tc.ok || (tc.ok && (uid != tc.uid || gid != tc.gid)) {
				t.Errorf("resolveOwner(%q) = %d:%d, %v", tc.spec, uid, gid, err)
			}
		}
	})
	t.Run("signals", func(t *testing.T) {
		for s, ok := range map[string]bool{"SIGTERM": true, "term": true, "9": true, "SIGNOPE": false, "0": false} {
			if validSignal(s) != ok {
				t.Errorf("validSignal(%q) != %v", s, ok)
			}
		}
	})
}

func TestTrimPivot(t *testing.T) {
	tests := []struct{ src, rel, want string }{
		{"src/a/*.txt", "src/a/one.txt", "src/a/one.txt"},
		{"src/./a/*.txt", "src/a/one.txt", "a/one.txt"},
		{"./src/a", "src/a", "src/a"},
		{"x/y/./z", "x/y/z", "z"},
	}
	for _, tc := range tests {
		if got := trimPivot(tc.src, tc.rel); got != tc.want {
			t.Errorf("trimPivot(%q, %q) = %q, want %q", tc.src, tc.rel, got, tc.want)
		}
	}
}

func TestTreeResolve(t *testing.T) {
	dir := func(n string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeDir} }
	link := func(n, to string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: to} }
	tree := &fsTree{m: map[string]*tar.Header{
		"usr": dir("usr"), "usr/bin": dir("usr/bin"), "usr/lib": dir("usr/lib"), "run": dir("run"),
		"bin": link("bin", "usr/bin"), "lib": link("lib", "/usr/lib"), "var": dir("var"),
		"var/run": link("var/run", "../run"), "etc": dir("etc"), "etc/conf": link("etc/conf", "real.conf"),
		"loop": link("loop", "loop"),
	}}
	tests := []struct{ in, want string }{
		{"/bin", "usr/bin"},
		{"/bin/app", "usr/bin/app"},
		{"/lib/x/y", "usr/lib/x/y"},
		{"/var/run/app.pid", "run/app.pid"},
		{"/etc/conf", "etc/conf"}, // a link to a file stays the link
		{"/opt/new", "opt/new"},
		{"/loop/x", "loop/x"}, // a loop gives up after 40 hops
		{"/loop", "loop"},
		{"/", ""},
	}
	for _, tc := range tests {
		if got := tree.resolve(tc.in); got != tc.want {
			t.Errorf("resolve(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !tree.isDir("/bin") || tree.isDir("/etc/conf") {
		t.Error("isDir does not follow links to directories")
	}
}
