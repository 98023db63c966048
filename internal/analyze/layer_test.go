package analyze

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/analyze/imagetest"
	"github.com/berth-dev/berth/internal/testenv"
)

func tarOf(t testing.TB, files []imagetest.File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := imagetest.WriteTar(&buf, files); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadLayerHostile(t *testing.T) {
	hdr := func(h tar.Header) imagetest.File { return imagetest.File{Raw: &h} }
	cases := []struct {
		name     string
		files    []imagetest.File
		limits   Limits
		wantErr  error  // errors.Is, or nil
		errWord  string // the error mentions this
		warnWord string // a warning mentions this
		path     string // a node expected in the tree
		size     int64  // the layer's size
	}{
		{name: "dot-dot path", files: []imagetest.File{{Path: "../../etc/passwd", Size: 4}}, warnWord: "outside the layer root", path: "/../../etc/passwd", size: 4},
		{name: "dot-dot inside", files: []imagetest.File{{Path: "a/../../b", Size: 1}}, warnWord: "outside", path: "/../b", size: 1},
		{name: "absolute path", files: []imagetest.File{{Path: "/etc/shadow", Size: 3}}, path: "/etc/shadow", size: 3},
		{name: "symlink escaping", files: []imagetest.File{{Path: "a/link", Symlink: "../../../../etc"}}, warnWord: "symlink", path: "/a/link"},
		{name: "absolute symlink is fine", files: []imagetest.File{{Path: "a/link", Symlink: "/etc"}}, path: "/a/link"},
		{name: "hardlink escaping", files: []imagetest.File{{Path: "h", Hardlink: "../x"}}, warnWord: "hard link", path: "/h"},
		{
			name:  "absurd size on a symlink is not trusted",
			files: []imagetest.File{hdr(tar.Header{Name: "s", Typeflag: tar.TypeSymlink, Linkname: "t", Size: math.MaxInt64 / 2, Mode: 0o777})},
			path:  "/s", size: 0,
		},
		{name: "too many entries", files: []imagetest.File{{Path: "a"}, {Path: "b"}, {Path: "c"}}, limits: Limits{MaxEntries: 2}, wantErr: ErrTooManyEntries},
		{name: "very long name", files: []imagetest.File{{Path: strings.Repeat("x/", 3000) + "f"}, {Path: "ok"}}, warnWord: "entry name of", path: "/ok"},
		{name: "meta whiteout never enters the tree", files: []imagetest.File{{Path: "d/.wh..wh.plnk/x"}, {Path: "d/y"}}, path: "/d/y"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := ReadLayer(context.Background(), bytes.NewReader(tarOf(t, c.files)), c.limits)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.warnWord != "" && !strings.Contains(strings.Join(l.Warnings, "\n"), c.warnWord) {
				t.Errorf("warnings %q lack %q", l.Warnings, c.warnWord)
			}
			if c.path != "" && lookup(l.Root, c.path) == nil {
				t.Errorf("%s not in tree", c.path)
			}
			if l.Size != c.size {
				t.Errorf("size = %d, want %d", l.Size, c.size)
			}
		})
	}
}

func TestReadLayerTruncatedAndGarbage(t *testing.T) {
	good := tarOf(t, []imagetest.File{{Path: "a", Size: 5000}, {Path: "b", Size: 10}})
	for name, data := range map[string][]byte{
		"truncated in content": good[:1200],
		"truncated in header":  good[:100],
		"garbage":              bytes.Repeat([]byte{0x5a}, 2048),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ReadLayer(context.Background(), bytes.NewReader(data), Limits{}); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := ReadLayer(context.Background(), bytes.NewReader(nil), Limits{}); err != nil {
		t.Errorf("empty layer: %v", err)
	}
}

func TestReadLayerCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ReadLayer(ctx, bytes.NewReader(tarOf(t, []imagetest.File{{Path: "a"}})), Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

// FuzzReadLayer feeds arbitrary bytes to the layer reader and the tree and
// efficiency code after it: they must return an error or a tree, never
// panic, whatever the tar says.
func FuzzReadLayer(f *testing.F) {
	for _, s := range testenv.HostileTars(f) {
		f.Add(s)
	}
	f.Add(tarOf(f, imagetest.Waste()[2].Files))
	f.Add(tarOf(f, []imagetest.File{{Path: "../x", Size: 3}, {Path: "a/.wh..wh..opq"}, imagetest.Whiteout("a/b"), {Path: "l", Symlink: "../../z"}}))
	f.Add(tarOf(f, []imagetest.File{{Path: ".wh.", Size: 1}, {Path: "/", Dir: true}, {Path: "./a/./b/", Dir: true}}))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, 1024))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ReadLayer(context.Background(), bytes.NewReader(data), Limits{MaxEntries: 1000})
		if err != nil {
			return
		}
		r := &Report{Layers: []*Layer{l, l}}
		r.Efficiency, r.Inefficiencies = efficiency(r.Layers)
		_ = findHints(r, buildFinal(r.Layers))
		v := r.Tree(1, true)
		if v.Parent != nil || v.Diff != Unmodified {
			t.Fatalf("bad view root %+v", v)
		}
	})
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/env":         "/usr/bin/env",
		"/etc/café":            "/etc/café",
		"/evil\x1b[2J\x1b]0;x": `/evil\x1b[2J\x1b]0;x`,
		"/a\nb\tc":             `/a\x0ab\x09c`,
		"/bad\xff\xfe":         `/bad\xff\xfe`,
		"/rtl\u202eexe":        `/rtl\u202eexe`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// A hostile file name must not reach the terminal as escape sequences.
func TestHostileNamesInCIReport(t *testing.T) {
	evil := "tmp/\x1b[2J\x1b]0;pwned\x07"
	r := analyzeLayers(t, []imagetest.Layer{
		{Files: []imagetest.File{{Path: evil, Size: 100}}},
		{Files: []imagetest.File{{Path: evil, Size: 200}}},
	})
	var b bytes.Buffer
	WriteCIReport(&b, r, DefaultRules().Evaluate(r), Styler{NoColor: true})
	for _, h := range r.Hints {
		b.WriteString(h.Message)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Errorf("raw control characters printed:\n%q", b.String())
	}
	if !strings.Contains(b.String(), `/tmp/\x1b[2J`) {
		t.Errorf("escaped name missing:\n%s", b.String())
	}
}
