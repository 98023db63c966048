package cli_test

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
)

// TestImportRefusesWhatUnpackRefuses: import checks a root filesystem with
// the rules the layer unpacker enforces (fsutil.LayerChecker), so an image
// that could never be unpacked (or would write outside its root) is not
// made: the refusal is one line naming the entry, and no image appears.
func TestImportRefusesWhatUnpackRefuses(t *testing.T) {
	deep := strings.Repeat("d/", 2100) + "f"
	long := strings.Repeat("n", 300)
	type ent struct {
		name, link string
		typ        byte
	}
	for _, tc := range []struct {
		name    string
		entries []ent
		want    string
	}{
		{"file under an absolute symlink", []ent{{name: "hostetc", typ: tar.TypeSymlink, link: "/etc"}, {name: "hostetc/passwd", typ: tar.TypeReg}}, `entry "hostetc/passwd": parent "hostetc" is not a directory inside the layer (it is a symlink)`},
		{"file under a file", []ent{{name: "f", typ: tar.TypeReg}, {name: "f/g", typ: tar.TypeReg}}, `entry "f/g": parent "f" is not a directory`},
		{"hard link to a missing file", []ent{{name: "h", typ: tar.TypeLink, link: "missing"}}, `entry "h": hard link target "missing" is not an earlier file`},
		{"hard link through a symlink", []ent{{name: "l", typ: tar.TypeSymlink, link: "/etc"}, {name: "h", typ: tar.TypeLink, link: "l/shadow"}}, `entry "h": hard link target "l/shadow": parent "l" is not a directory`},
		{"whiteout", []ent{{name: "etc/.wh.passwd", typ: tar.TypeReg}}, `entry "etc/.wh.passwd" is an OCI whiteout`},
		{"opaque whiteout", []ent{{name: "etc/.wh..wh..opq", typ: tar.TypeReg}}, `entry "etc/.wh..wh..opq" is an OCI whiteout`},
		{"very deep path", []ent{{name: deep, typ: tar.TypeReg}}, "bytes, more than Linux allows (4095)"},
		{"overlong name", []ent{{name: long, typ: tar.TypeReg}}, "a component of its path is 300 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, e := range tc.entries {
				if err := tw.WriteHeader(&tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
					t.Fatal(err)
				}
			}
			tw.Close()
			c := newCLI(t)
			_, stderr, code := c.run(buf.Bytes(), "import", "-", "hostile:1")
			if code != 1 {
				t.Fatalf("import exit %d, want 1; stderr:\n%s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr %q, want one line saying %q", stderr, tc.want)
			}
			if len(lines[0]) > 700 {
				t.Errorf("the error repeats the input: %d bytes", len(lines[0]))
			}
			if out := c.ok("images", "-q"); out != "" {
				t.Fatalf("an image was made: %q", out)
			}
		})
	}
}

// TestArgumentEchoesAreBounded: a reference too long to be one is not
// printed back in full.
func TestArgumentEchoesAreBounded(t *testing.T) {
	c := newCLI(t)
	long := "localhost:5000/" + strings.Repeat("a", 20<<10)
	for _, args := range [][]string{{"pull", long}, {"push", long}} {
		_, stderr, code := c.run(nil, args...)
		if code == 0 || len(stderr) > 500 || !strings.Contains(stderr, "invalid reference format") {
			t.Errorf("berth %s …: exit %d, %d bytes of stderr: %.200q", args[0], code, len(stderr), stderr)
		}
	}
}
