package dockerfile

import (
	"reflect"
	"testing"
)

func TestIgnore(t *testing.T) {
	tests := []struct {
		name     string
		ignore   string
		excluded []string
		included []string
	}{
		{"plain", "node_modules\n*.log\n", []string{"node_modules", "node_modules/x/y", "a.log"}, []string{"src/a.log", "main.go"}},
		{"comments and blank", "# comment\n\n  tmp  \n", []string{"tmp", "tmp/a"}, []string{"# comment"}},
		{"exception", "*.md\n!README.md\n", []string{"a.md"}, []string{"README.md"}},
		{"double star", "**/*.tmp\n", []string{"a.tmp", "x/y/z.tmp"}, []string{"x/y/z.tmpl"}},
		{"leading slash and dot", "/build\n./dist\n", []string{"build/out", "dist"}, []string{"src/build"}},
		{"exception later wins", "!keep\nkeep\n", []string{"keep"}, nil},
		{"dir then exception below", "docs\n!docs/keep.txt\n", []string{"docs/a.txt"}, []string{"docs/keep.txt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ig, err := ParseIgnore([]byte(tc.ignore))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.excluded {
				if !ig.Excluded(p) {
					t.Errorf("%s: not excluded", p)
				}
			}
			for _, p := range tc.included {
				if ig.Excluded(p) {
					t.Errorf("%s: excluded", p)
				}
			}
		})
	}
}

func TestCanSkipDir(t *testing.T) {
	ig, err := ParseIgnore([]byte("docs\nvendor\n!docs/keep.txt\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ig.CanSkipDir("docs") {
		t.Error("docs must be walked: an exception lies below it")
	}
	if !ig.CanSkipDir("vendor") {
		t.Error("vendor may be skipped")
	}
	if ig.CanSkipDir("src") {
		t.Error("src is not excluded")
	}
}

func TestIgnoreFileNames(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Dockerfile", []string{"Dockerfile.dockerignore", ".dockerignore"}},
		{"build/app.Dockerfile", []string{"build/app.Dockerfile.dockerignore", ".dockerignore"}},
		{"-", []string{".dockerignore"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := IgnoreFileNames(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

func FuzzIgnore(f *testing.F) {
	for _, s := range []string{"*.go\n!main.go\n", "**/x\n/a/../b\n", "[\n", "!\n", "# c\n\\#x\n"} {
		f.Add([]byte(s), "a/b.go")
	}
	f.Fuzz(func(t *testing.T, data []byte, p string) {
		ig, err := ParseIgnore(data)
		if err != nil {
			return
		}
		_ = ig.Excluded(p)
		_ = ig.CanSkipDir(p)
	})
}
