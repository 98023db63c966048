package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-dev/berth/internal/analyze/imagetest"
)

// analyzeLayers writes the layers as a docker archive, opens it with
// go-containerregistry and analyzes it.
func analyzeLayers(t *testing.T, layers []imagetest.Layer) *Report {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "img.tar")
	if err := imagetest.WriteDockerArchive(path, "test:latest", dir, layers); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return analyzeImage(t, img)
}

func analyzeImage(t *testing.T, img v1.Image) *Report {
	t.Helper()
	r, err := Analyze(context.Background(), img, "test", "docker-archive", Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWasteImageMatchesDive(t *testing.T) {
	r := analyzeLayers(t, imagetest.Waste())
	if r.WastedBytes != imagetest.WasteWasted {
		t.Errorf("wasted bytes = %d, want %d", r.WastedBytes, imagetest.WasteWasted)
	}
	wantEff := float64(imagetest.WasteMinimum) / float64(imagetest.WasteTotal)
	if r.Efficiency != wantEff {
		t.Errorf("efficiency = %v, want %v", r.Efficiency, wantEff)
	}
	wantUser := float64(imagetest.WasteWasted) / float64(imagetest.WasteUser)
	if r.UserWastedPercent != wantUser {
		t.Errorf("user wasted = %v, want %v", r.UserWastedPercent, wantUser)
	}
	// dive 0.13.1 on the same archive printed these lines (efficiency
	// 18.4374 %, wastedBytes 5654980); the figures above are its formula.
	if got := 100 * r.Efficiency; math.Abs(got-18.4374) > 0.00005 {
		t.Errorf("efficiency %.4f %%, dive printed 18.4374 %%", got)
	}
	type file struct {
		path    string
		count   int
		size    int64
		layers  []int
		removed bool
	}
	var got []file
	for _, in := range r.Inefficiencies {
		got = append(got, file{in.Path, in.Count, in.Size, in.Layers, in.Removed})
	}
	want := []file{
		{"/tmp/big", 2, imagetest.BigSize, []int{1, 2}, true},
		{"/app/bin", 2, 2 * imagetest.AppSize, []int{3, 4}, false},
		{"/etc/config", 2, imagetest.ConfigSize1 + imagetest.ConfigSize2, []int{0, 2}, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inefficient files:\n got %+v\nwant %+v", got, want)
	}
	if r.Inefficiencies[0].Reclaimable != imagetest.BigSize || r.Inefficiencies[2].Reclaimable != imagetest.ConfigSize1 {
		t.Errorf("reclaimable = %d, %d", r.Inefficiencies[0].Reclaimable, r.Inefficiencies[2].Reclaimable)
	}
	if r.Layers[2].Command != "rm /tmp/big && echo configured > /etc/config" {
		t.Errorf("layer 3 command = %q", r.Layers[2].Command)
	}
	kinds := map[string]Hint{}
	for _, h := range r.Hints {
		kinds[h.Kind] = h
	}
	for kind, word := range map[string]string{"cache": "/var/lib/apt/lists", "add-then-delete": "/tmp/big", "copied-twice": "/app/bin"} {
		if h, ok := kinds[kind]; !ok || !strings.Contains(h.Message, word) {
			t.Errorf("no %s hint naming %s in %+v", kind, word, r.Hints)
		}
	}
	if h := kinds["add-then-delete"]; !reflect.DeepEqual(h.Layers, []int{1, 2}) || h.Bytes != imagetest.BigSize {
		t.Errorf("add-then-delete hint = %+v", h)
	}
}

// Cases where dive's formula has rules worth pinning; expected values
// worked out by hand from dive 0.13.1's efficiency.go.
func TestEfficiencyCases(t *testing.T) {
	f := func(p string, size int64, seed byte) imagetest.File {
		return imagetest.File{Path: p, Size: size, Seed: seed}
	}
	cases := []struct {
		name   string
		layers [][]imagetest.File
		wasted uint64
		eff    float64
		paths  []string
	}{
		{
			name:   "no waste",
			layers: [][]imagetest.File{{f("a", 100, 1)}, {f("b", 300, 2)}},
			wasted: 0, eff: 1,
		},
		{
			name:   "overwrite counts every copy",
			layers: [][]imagetest.File{{f("a", 100, 1)}, {f("a", 300, 2)}, {f("a", 50, 3)}},
			wasted: 450, eff: 50.0 / 450, paths: []string{"/a"},
		},
		{
			// The deleted directory is not a leaf in the layer that made it,
			// so dive never counts it.
			name:   "deleted directory is not counted",
			layers: [][]imagetest.File{{{Path: "d/", Dir: true}, f("d/x", 1000, 1), f("k", 10, 2)}, {imagetest.Whiteout("d")}},
			wasted: 0, eff: 1,
		},
		{
			// An empty directory deleted later is a leaf: the whiteout costs
			// the directory's size in the layers below (0).
			name:   "deleted empty directory",
			layers: [][]imagetest.File{{{Path: "e/", Dir: true}, f("k", 10, 2)}, {imagetest.Whiteout("e")}},
			wasted: 0, eff: 1, paths: []string{"/e"},
		},
		{
			// A whiteout of a path no lower layer has records the path with
			// a minimum of -1 and stops the walk of that layer: "z" after
			// it in name order is never counted.
			name:   "whiteout of a missing path",
			layers: [][]imagetest.File{{f("a", 100, 1)}, {imagetest.Whiteout("b"), f("z", 40, 2)}},
			wasted: 0, eff: 99.0 / 100,
		},
		{
			// Opaque markers are ignored by dive's numbers.
			name:   "opaque directory",
			layers: [][]imagetest.File{{{Path: "o/", Dir: true}, f("o/x", 500, 1)}, {{Path: "o/", Dir: true}, imagetest.Opaque("o"), f("o/y", 20, 2)}},
			wasted: 0, eff: 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var layers []imagetest.Layer
			for _, l := range c.layers {
				layers = append(layers, imagetest.Layer{CreatedBy: "RUN x", Files: l})
			}
			r := analyzeLayers(t, layers)
			if r.WastedBytes != c.wasted {
				t.Errorf("wasted = %d, want %d", r.WastedBytes, c.wasted)
			}
			if math.Abs(r.Efficiency-c.eff) > 1e-12 {
				t.Errorf("efficiency = %v, want %v", r.Efficiency, c.eff)
			}
			var paths []string
			for _, in := range r.Inefficiencies {
				paths = append(paths, in.Path)
			}
			if !reflect.DeepEqual(paths, c.paths) {
				t.Errorf("paths = %v, want %v", paths, c.paths)
			}
		})
	}
}

func TestTreeMarksChanges(t *testing.T) {
	r := analyzeLayers(t, imagetest.Waste())
	cases := []struct {
		layer      int
		aggregated bool
		want       map[string]Diff // path → mark; "" absent
	}{
		{0, false, map[string]Diff{"/bin/sh": Unmodified, "/etc/config": Unmodified}},
		{1, false, map[string]Diff{"/tmp/big": Added, "/var/lib/apt/lists": Added, "/bin/sh": Unmodified, "/tmp": Modified}},
		{2, false, map[string]Diff{"/tmp/big": Removed, "/etc/config": Modified, "/var/lib/apt/lists": Unmodified}},
		{4, false, map[string]Diff{"/app/bin": Unmodified, "/etc/config": Unmodified}},
		{4, true, map[string]Diff{"/app/bin": Added, "/etc/config": Modified, "/var/lib/apt/lists": Added, "/bin/sh": Unmodified}},
	}
	for _, c := range cases {
		v := r.Tree(c.layer, c.aggregated)
		for p, want := range c.want {
			n := viewLookup(v, p)
			if n == nil {
				t.Errorf("layer %d agg=%v: %s missing", c.layer, c.aggregated, p)
				continue
			}
			if n.Diff != want {
				t.Errorf("layer %d agg=%v: %s is %v, want %v", c.layer, c.aggregated, p, n.Diff, want)
			}
		}
	}
	// In the aggregated view the file added and deleted above the base is gone.
	if n := viewLookup(r.Tree(4, true), "/tmp/big"); n != nil {
		t.Errorf("/tmp/big in aggregated view as %v", n.Diff)
	}
	if got := viewLookup(r.Tree(1, false), "/var/lib/apt/lists").Size; got != 3*imagetest.ListSize {
		t.Errorf("lists size = %d", got)
	}
}

func TestOpaqueDirectoryHidesLowerFiles(t *testing.T) {
	r := analyzeLayers(t, []imagetest.Layer{
		{Files: []imagetest.File{{Path: "o/", Dir: true}, {Path: "o/old", Size: 10}, {Path: "o/sub/", Dir: true}, {Path: "o/sub/x", Size: 5}}},
		{Files: []imagetest.File{{Path: "o/", Dir: true}, imagetest.Opaque("o"), {Path: "o/new", Size: 7}}},
	})
	if !reflect.DeepEqual(r.Layers[1].Opaque, []string{"/o"}) {
		t.Errorf("opaque = %v", r.Layers[1].Opaque)
	}
	v := r.Tree(1, false)
	for p, want := range map[string]Diff{"/o/old": Removed, "/o/sub/x": Removed, "/o/new": Added} {
		if n := viewLookup(v, p); n == nil || n.Diff != want {
			t.Errorf("%s: %v, want %v", p, n, want)
		}
	}
	if got := viewLookup(v, "/o").Size; got != 7 {
		t.Errorf("/o size = %d, want 7 (removed files do not count)", got)
	}
}

func TestFileReplacesDirectory(t *testing.T) {
	r := analyzeLayers(t, []imagetest.Layer{
		{Files: []imagetest.File{{Path: "d/", Dir: true}, {Path: "d/inner", Size: 10}}},
		{Files: []imagetest.File{{Path: "d", Size: 3}}},
	})
	v := r.Tree(1, false)
	if n := viewLookup(v, "/d/inner"); n == nil || n.Diff != Removed {
		t.Errorf("/d/inner = %+v, want removed", n)
	}
	if n := viewLookup(r.Tree(1, true), "/d"); n == nil || n.Size != 3 {
		t.Errorf("/d = %+v", n)
	}
	last := buildFinal(r.Layers)
	if n := viewLookup(last.root, "/d/inner"); n != nil {
		t.Errorf("/d/inner survives in the final tree")
	}
}

func TestJSONExport(t *testing.T) {
	r := analyzeLayers(t, imagetest.Waste())
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("invalid JSON:\n%s", buf.String())
	}
	var empty bytes.Buffer
	if err := Build("none", "test", nil).WriteJSON(&empty); err != nil || !json.Valid(empty.Bytes()) {
		t.Errorf("empty image: %v\n%s", err, empty.String())
	}
	for _, want := range []string{`"inefficientBytes": 5654980`, `"fileReference": [`, `"file": "/tmp/big"`, `"layers": [`, `"path": "/tmp/big"`, `"whiteout": true`, `"kind": "cache"`,
		`"path": "/tmp/big",
          "change": "removed"`, `"path": "/etc/config",
          "change": "modified"`, `"tree": [`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

func TestHints(t *testing.T) {
	f := func(p string, size int64) imagetest.File {
		return imagetest.File{Path: p, Size: size, Seed: byte(size)}
	}
	cases := []struct {
		name   string
		layers [][]imagetest.File
		kind   string
		words  []string
		none   bool // no hint of that kind
	}{
		{name: "apk cache", layers: [][]imagetest.File{{f("bin/sh", 10)}, {f("var/cache/apk/APKINDEX.tar.gz", 5000)}}, kind: "cache", words: []string{"/var/cache/apk", "apk add --no-cache", "layer 2"}},
		{name: "pip cache", layers: [][]imagetest.File{{f("bin/sh", 10)}, {f("root/.cache/pip/http/x", 700)}}, kind: "cache", words: []string{"--no-cache-dir"}},
		{name: "npm cache", layers: [][]imagetest.File{{f("bin/sh", 10)}, {f("root/.npm/_cacache/x", 700)}}, kind: "cache", words: []string{"npm cache clean"}},
		{name: "apt lists removed later are not a cache hint", layers: [][]imagetest.File{{f("var/lib/apt/lists/x", 10)}, {imagetest.Whiteout("var/lib/apt/lists")}}, kind: "cache", none: true},
		{name: "deleted directory", layers: [][]imagetest.File{{f("bin/sh", 1)}, {f("src/a.o", 3000), f("src/b.o", 4000)}, {imagetest.Whiteout("src")}}, kind: "add-then-delete", words: []string{"7.0 kB", "/src", "layer 2", "layer 3"}},
		{name: "overwritten", layers: [][]imagetest.File{{f("etc/x", 1000)}, {f("etc/x", 2000)}}, kind: "overwritten", words: []string{"/etc/x", "1.0 kB"}},
		{name: "build tools", layers: [][]imagetest.File{{f("bin/sh", 1)}, {f("usr/bin/gcc", 100), f("usr/bin/make", 100)}}, kind: "build-tools", words: []string{"/usr/bin/gcc", "/usr/bin/make", "multi-stage"}},
		{name: "same content at two paths", layers: [][]imagetest.File{{f("bin/sh", 1)}, {{Path: "opt/a.bin", Size: 100000, Seed: 9}}, {{Path: "srv/b.bin", Size: 100000, Seed: 9}}}, kind: "duplicate-content", words: []string{"/opt/a.bin", "/srv/b.bin", "100 kB"}},
		{name: "small duplicates do not count", layers: [][]imagetest.File{{f("a", 100)}, {{Path: "b", Size: 100, Seed: 100}}}, kind: "duplicate-content", none: true},
		{name: "build tools removed", layers: [][]imagetest.File{{f("usr/bin/gcc", 100)}, {imagetest.Whiteout("usr/bin/gcc")}}, kind: "build-tools", none: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var layers []imagetest.Layer
			for i, l := range c.layers {
				layers = append(layers, imagetest.Layer{CreatedBy: "RUN step " + string(rune('A'+i)), Files: l})
			}
			r := analyzeLayers(t, layers)
			var found *Hint
			for i := range r.Hints {
				if r.Hints[i].Kind == c.kind {
					found = &r.Hints[i]
				}
			}
			if c.none {
				if found != nil {
					t.Errorf("unexpected hint %+v", found)
				}
				return
			}
			if found == nil {
				t.Fatalf("no %s hint in %+v", c.kind, r.Hints)
			}
			for _, w := range c.words {
				if !strings.Contains(found.Message, w) {
					t.Errorf("hint %q lacks %q", found.Message, w)
				}
			}
		})
	}
	// A large base: sizes alone decide it, so no 100 MB of test data.
	r := Build("x", "y", []*Layer{{Size: 180_000_000, Root: newRoot()}, {Index: 1, Size: 20_000_000, Root: newRoot()}})
	if len(r.Hints) != 1 || r.Hints[0].Kind != "large-base" || !strings.Contains(r.Hints[0].Message, "180 MB, 90%") {
		t.Errorf("large base hints = %+v", r.Hints)
	}
}
