package archive_test

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestFlatten: the flattened filesystem is what the layers stack up to,
// unpacked as a user gets it from --output type=local: topmost versions,
// whiteouts and opaque directories applied, and every hard link a second
// name of the file it named in its own layer, even where an upper layer
// replaced or removed that name.
func TestFlatten(t *testing.T) {
	reg := func(name, body string) tarEntry { return tarEntry{name: name, body: []byte(body)} }
	link := func(name, target string) tarEntry { return tarEntry{name: name, typ: tar.TypeLink, linkname: target} }
	dir := func(name string) tarEntry { return tarEntry{name: name, typ: tar.TypeDir} }
	for _, tc := range []struct {
		name    string
		layers  [][]tarEntry
		files   map[string]string // path → content
		gone    []string
		sameAs  map[string]string // path → path it must be a hard link of
		notSame map[string]string
	}{
		{name: "links in one layer",
			layers: [][]tarEntry{{reg("f", "f\n"), link("g", "f"), link("./h", "/f")}},
			files:  map[string]string{"f": "f\n", "g": "f\n", "h": "f\n"},
			sameAs: map[string]string{"g": "f", "h": "f"}},
		{name: "target replaced above",
			layers:  [][]tarEntry{{dir("d/"), reg("d/a", "old\n"), link("d/b", "d/a")}, {reg("d/a", "new\n")}},
			files:   map[string]string{"d/a": "new\n", "d/b": "old\n"},
			notSame: map[string]string{"d/b": "d/a"}},
		{name: "target removed above, two links",
			layers: [][]tarEntry{{reg("a", "old\n"), link("b", "a"), link("c", "a")}, {reg(".wh.a", "")}},
			files:  map[string]string{"b": "old\n", "c": "old\n"},
			gone:   []string{"a"},
			sameAs: map[string]string{"c": "b"}},
		{name: "target in a lower layer",
			layers: [][]tarEntry{{reg("t", "t\n")}, {link("n", "t")}},
			files:  map[string]string{"t": "t\n", "n": "t\n"},
			sameAs: map[string]string{"n": "t"}},
		{name: "opaque directory",
			layers: [][]tarEntry{{dir("d/"), reg("d/x", "x\n"), reg("e", "e\n")}, {dir("d/"), reg("d/.wh..wh..opq", ""), reg("d/y", "y\n")}},
			files:  map[string]string{"d/y": "y\n", "e": "e\n"},
			gone:   []string{"d/x"}},
		{name: "directory whited out and made a file",
			layers: [][]tarEntry{{dir("d/"), reg("d/x", "x\n")}, {reg(".wh.d", "")}, {reg("d", "file\n")}},
			files:  map[string]string{"d": "file\n"},
			gone:   []string{"d/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var layers []v1.Layer
			for _, l := range tc.layers {
				layers = append(layers, static.NewLayer(makeTar(t, l...), types.OCIUncompressedLayer))
			}
			rc := archive.Flatten(context.Background(), testenv.Image(t, "linux/amd64", layers...))
			defer rc.Close()
			dest := t.TempDir()
			must(t, archive.Unpack(context.Background(), rc, dest, archive.UnpackOptions{}))
			for p, want := range tc.files {
				if got, err := os.ReadFile(filepath.Join(dest, p)); err != nil || string(got) != want {
					t.Errorf("%s = %q (%v), want %q", p, got, err, want)
				}
			}
			for _, p := range tc.gone {
				if _, err := os.Lstat(filepath.Join(dest, p)); err == nil {
					t.Errorf("%s is there", p)
				}
			}
			same := func(a, b string) bool {
				fa, err1 := os.Stat(filepath.Join(dest, a))
				fb, err2 := os.Stat(filepath.Join(dest, b))
				return err1 == nil && err2 == nil && os.SameFile(fa, fb)
			}
			for a, b := range tc.sameAs {
				if !same(a, b) {
					t.Errorf("%s is not a hard link of %s", a, b)
				}
			}
			for a, b := range tc.notSame {
				if same(a, b) {
					t.Errorf("%s is still a hard link of %s", a, b)
				}
			}
		})
	}
}

// FuzzFlatten: layers of any bytes flatten to a tar or an error, never a
// panic or a hang.
func FuzzFlatten(f *testing.F) {
	f.Add(makeTar(f, tarEntry{name: "a", body: []byte("a")}, tarEntry{name: "b", typ: tar.TypeLink, linkname: "a"}),
		makeTar(f, tarEntry{name: ".wh.a"}, tarEntry{name: "c", typ: tar.TypeLink, linkname: "b"}))
	f.Add([]byte("not a tar"), []byte{})
	f.Fuzz(func(t *testing.T, lower, upper []byte) {
		img := testenv.Image(t, "linux/amd64", static.NewLayer(lower, types.OCIUncompressedLayer), static.NewLayer(upper, types.OCIUncompressedLayer))
		rc := archive.Flatten(context.Background(), img)
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			if _, err := tr.Next(); err != nil {
				return
			}
		}
	})
}
