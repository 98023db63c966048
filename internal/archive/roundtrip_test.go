package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
	"github.com/berth-dev/berth/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// fixture is a source store holding two images that share a layer and a
// two-platform index.
type fixture struct {
	st           *store.Store
	a, b         v1.Image
	idx          v1.ImageIndex
	recA, recB   store.Image
	recIdx       store.Image
	base         v1.Layer
	amd64, arm64 v1.Image
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{st: newStore(t)}
	f.base = testenv.GzipLayer(t, "base")
	f.a = testenv.Image(t, "linux/amd64", f.base, testenv.GzipLayer(t, "app-a"))
	f.b = testenv.Image(t, "linux/amd64", f.base, testenv.Layer(t, "app-b"))
	f.amd64 = testenv.Image(t, "linux/amd64", testenv.GzipLayer(t, "multi-amd64"))
	f.arm64 = testenv.Image(t, "linux/arm64/v8", testenv.GzipLayer(t, "multi-arm64"))
	f.idx = makeIndex(t, map[string]v1.Image{"linux/amd64": f.amd64, "linux/arm64/v8": f.arm64})
	f.recA = storetest.Add(t, f.st, f.a, "docker.io/library/alpha:1", "docker.io/library/alpha:latest")
	f.recB = storetest.Add(t, f.st, f.b, "localhost:5000/team/beta:2")
	f.recIdx = storetest.Add(t, f.st, f.idx, "docker.io/me/multi:latest")
	return f
}

func (f *fixture) entries(t *testing.T) []archive.Entry {
	return []archive.Entry{
		{Image: f.a, Names: []string{"docker.io/library/alpha:1", "docker.io/library/alpha:latest"}},
		{Image: f.b, Names: []string{"localhost:5000/team/beta:2"}},
		{Index: f.idx, Names: []string{"docker.io/me/multi:latest"}},
	}
}

// storeEntries opens the fixture's images from its store, the way save does.
func (f *fixture) storeEntries(t *testing.T) []archive.Entry {
	ctx := context.Background()
	a, err := f.st.Image(ctx, f.recA, nil)
	must(t, err)
	b, err := f.st.Image(ctx, f.recB, nil)
	must(t, err)
	idx, err := f.st.Index(ctx, f.recIdx)
	must(t, err)
	return []archive.Entry{
		{Image: a, Names: []string{"docker.io/library/alpha:1", "docker.io/library/alpha:latest"}},
		{Image: b, Names: []string{"localhost:5000/team/beta:2"}},
		{Index: idx, Names: []string{"docker.io/me/multi:latest"}},
	}
}

func compress(t *testing.T, kind image.Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch kind {
	case image.Uncompressed:
		return data
	case image.Gzip:
		w := gzip.NewWriter(&buf)
		w.Write(data)
		must(t, w.Close())
	case image.Zstd:
		w, err := zstd.NewWriter(&buf)
		must(t, err)
		w.Write(data)
		must(t, w.Close())
	case image.Xz:
		w, err := xz.NewWriter(&buf)
		must(t, err)
		w.Write(data)
		must(t, w.Close())
	case image.Bzip2:
		// The standard library only decompresses bzip2.
		cmd := exec.Command(testenv.Peer(t, "bzip2"), "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		must(t, err)
		return out
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	for _, format := range []archive.Format{archive.FormatDocker, archive.FormatOCI} {
		data := save(t, f.st, format, f.storeEntries(t)...)
		for _, c := range []image.Compression{image.Uncompressed, image.Gzip, image.Zstd, image.Bzip2, image.Xz} {
			t.Run(string(format)+"/"+string(c), func(t *testing.T) {
				dst := newStore(t)
				loaded, err := load(t, dst, compress(t, c, data))
				if err != nil {
					t.Fatal(err)
				}
				want := map[v1.Hash][]string{
					f.recA.Digest:   {"docker.io/library/alpha:1", "docker.io/library/alpha:latest"},
					f.recB.Digest:   {"localhost:5000/team/beta:2"},
					f.recIdx.Digest: {"docker.io/me/multi:latest"},
				}
				if len(loaded) != len(want) {
					t.Fatalf("loaded %d images, want %d: %+v", len(loaded), len(want), loaded)
				}
				for _, l := range loaded {
					if !slices.Equal(l.Names, want[l.Descriptor.Digest]) {
						t.Errorf("%s: names %q, want %q", l.Descriptor.Digest, l.Names, want[l.Descriptor.Digest])
					}
				}
				imgs, err := dst.Images(context.Background())
				must(t, err)
				for _, img := range imgs {
					src, err := f.st.Lookup(context.Background(), img.Digest.String())
					must(t, err)
					if img.ID != src.ID || !slices.Equal(img.Names, src.Names) {
						t.Errorf("loaded %s as ID %s names %q; source has ID %s names %q", img.Digest, img.ID, img.Names, src.ID, src.Names)
					}
				}
				// Every blob of the source is now in the destination.
				for _, x := range []v1.Image{f.a, f.b, f.amd64, f.arm64} {
					ls, err := x.Layers()
					must(t, err)
					for _, l := range ls {
						if !dst.HasBlob(digestOf(t, l)) {
							t.Errorf("layer %s missing after load", digestOf(t, l))
						}
					}
				}
			})
		}
	}
}

func TestWriteIsDeterministicAndSharesLayers(t *testing.T) {
	f := newFixture(t)
	for _, format := range []archive.Format{archive.FormatDocker, archive.FormatOCI} {
		t.Run(string(format), func(t *testing.T) {
			one := save(t, f.st, format, f.storeEntries(t)...)
			two := save(t, f.st, format, f.entries(t)...) // same images from go-containerregistry values, not the store
			if !bytes.Equal(one, two) {
				t.Fatal("two saves of the same images differ")
			}
			base := "blobs/sha256/" + digestOf(t, f.base).Hex
			n := 0
			seen := map[string]bool{}
			for _, name := range tarNames(t, one) {
				if seen[name] {
					t.Errorf("entry %s written twice", name)
				}
				seen[name] = true
				if name == base {
					n++
				}
			}
			if n != 1 {
				t.Errorf("shared layer written %d times", n)
			}
		})
	}
}

func TestDockerFormatFiles(t *testing.T) {
	f := newFixture(t)
	data := save(t, f.st, archive.FormatDocker, f.storeEntries(t)...)
	names := tarNames(t, data)
	for _, want := range []string{"index.json", "manifest.json", "oci-layout", "repositories"} {
		if !slices.Contains(names, want) {
			t.Errorf("archive lacks %s: %q", want, names)
		}
	}
	var items []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	must(t, json.Unmarshal(tarFile(t, data, "manifest.json"), &items))
	cfgName := func(img v1.Image) string {
		h, err := img.ConfigName()
		must(t, err)
		return "blobs/sha256/" + h.Hex
	}
	wantItems := []struct {
		config string
		tags   []string
		layers int
	}{
		{cfgName(f.a), []string{"alpha:1", "alpha:latest"}, 2},
		{cfgName(f.b), []string{"localhost:5000/team/beta:2"}, 2},
	}
	if runtime.GOARCH == "amd64" {
		// The index is listed through the child old readers can run here.
		wantItems = append(wantItems, struct {
			config string
			tags   []string
			layers int
		}{cfgName(f.amd64), []string{"me/multi:latest"}, 1})
	}
	if len(items) != len(wantItems) {
		t.Fatalf("manifest.json has %d items, want %d: %+v", len(items), len(wantItems), items)
	}
	for i, w := range wantItems {
		it := items[i]
		if it.Config != w.config || !slices.Equal(it.RepoTags, w.tags) || len(it.Layers) != w.layers {
			t.Errorf("item %d = %+v, want config %s tags %q and %d layers", i, it, w.config, w.tags, w.layers)
		}
		for _, p := range append([]string{it.Config}, it.Layers...) {
			if !slices.Contains(names, p) {
				t.Errorf("manifest.json names %s, which is not in the archive", p)
			}
		}
	}
	var idx v1.IndexManifest
	must(t, json.Unmarshal(tarFile(t, data, "index.json"), &idx))
	if len(idx.Manifests) != 4 {
		t.Fatalf("index.json has %d entries, want one per name (4)", len(idx.Manifests))
	}
	if got := idx.Manifests[0].Annotations; got["io.containerd.image.name"] != "docker.io/library/alpha:1" || got["org.opencontainers.image.ref.name"] != "1" {
		t.Errorf("first index.json entry annotations = %v", got)
	}
	var repos map[string]map[string]string
	must(t, json.Unmarshal(tarFile(t, data, "repositories"), &repos))
	if repos["alpha"]["latest"] == "" || repos["localhost:5000/team/beta"]["2"] == "" {
		t.Errorf("repositories = %v", repos)
	}

	oci := save(t, f.st, archive.FormatOCI, f.storeEntries(t)...)
	for _, n := range tarNames(t, oci) {
		if n == "manifest.json" || n == "repositories" {
			t.Errorf("OCI archive has Docker's %s", n)
		}
	}
}

// TestSaveUnnamedAndDigest: an image saved by ID has no names; a digest
// name comes back as itself.
func TestSaveUnnamedAndDigest(t *testing.T) {
	f := newFixture(t)
	dig := "docker.io/library/alpha@" + f.recA.Digest.String()
	data := save(t, f.st, archive.FormatDocker,
		archive.Entry{Image: f.b},
		archive.Entry{Image: f.a, Names: []string{dig}})
	var items []struct{ RepoTags []string }
	must(t, json.Unmarshal(tarFile(t, data, "manifest.json"), &items))
	if len(items) != 2 || items[0].RepoTags != nil || items[1].RepoTags != nil {
		t.Errorf("manifest.json = %s, want no RepoTags", tarFile(t, data, "manifest.json"))
	}
	loaded, err := load(t, newStore(t), data)
	must(t, err)
	if len(loaded) != 2 || len(loaded[0].Names) != 0 || !slices.Equal(loaded[1].Names, []string{dig}) {
		t.Errorf("loaded %+v", loaded)
	}
}

// TestPartialIndex: an index whose other-platform child is absent (a
// single-platform pull) saves and loads with the child that is there.
func TestPartialIndex(t *testing.T) {
	src := newStore(t)
	amd := testenv.Image(t, "linux/amd64", testenv.GzipLayer(t, "p-amd"))
	arm := testenv.Image(t, "linux/arm64/v8", testenv.GzipLayer(t, "p-arm"))
	idx := makeIndex(t, map[string]v1.Image{"linux/amd64": amd, "linux/arm64/v8": arm})
	ctx := context.Background()
	must(t, src.WriteImage(ctx, amd))
	raw, err := idx.RawManifest()
	must(t, err)
	d := digestOf(t, idx)
	must(t, src.WriteBlob(ctx, d, int64(len(raw)), bytes.NewReader(raw)))
	rec, err := src.AddImage(ctx, v1.Descriptor{MediaType: "application/vnd.oci.image.index.v1+json", Size: int64(len(raw)), Digest: d}, "docker.io/library/partial:1")
	must(t, err)
	sidx, err := src.Index(ctx, rec)
	must(t, err)
	var buf bytes.Buffer
	err = archive.Write(ctx, &buf, []archive.Entry{{Index: sidx, Names: []string{"docker.io/library/partial:1"}}},
		archive.WriteOptions{Missing: func(err error) bool { return errors.Is(err, store.ErrNotFound) }})
	must(t, err)
	dst := newStore(t)
	loaded, err := load(t, dst, buf.Bytes())
	must(t, err)
	if len(loaded) != 1 || loaded[0].Descriptor.Digest != d || !dst.HasBlob(digestOf(t, amd)) || dst.HasBlob(digestOf(t, arm)) {
		t.Errorf("loaded %+v", loaded)
	}
}

// TestWriteToFile: the bytes written into a regular file are those of the
// stream, and a blob that rotted in the store fails the save whether the
// destination is a file or a pipe.
func TestWriteToFile(t *testing.T) {
	f := newFixture(t)
	want := save(t, f.st, archive.FormatDocker, f.storeEntries(t)...)
	path := filepath.Join(t.TempDir(), "out.tar")
	out, err := os.Create(path)
	must(t, err)
	must(t, archive.Write(context.Background(), out, f.storeEntries(t), archive.WriteOptions{}))
	must(t, out.Close())
	got, err := os.ReadFile(path)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatal("archive written to a file differs from the streamed one")
	}

	// Rot one layer of the store in place, keeping its size.
	layer := f.st.BlobPath(digestOf(t, f.base))
	must(t, os.Chmod(layer, 0o644))
	b, err := os.ReadFile(layer)
	must(t, err)
	b[len(b)/2] ^= 0xff
	must(t, os.WriteFile(layer, b, 0o644))
	for _, tc := range []struct {
		name string
		w    func(t *testing.T) io.Writer
	}{
		{"stream", func(t *testing.T) io.Writer { return &bytes.Buffer{} }},
		{"file", func(t *testing.T) io.Writer {
			f, err := os.Create(filepath.Join(t.TempDir(), "x.tar"))
			must(t, err)
			t.Cleanup(func() { f.Close() })
			return f
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := archive.Write(context.Background(), tc.w(t), f.storeEntries(t), archive.WriteOptions{})
			if err == nil || !strings.Contains(err.Error(), digestOf(t, f.base).String()) {
				t.Errorf("save of a rotten blob: %v", err)
			}
		})
	}
}

// TestNamesFromManifestJSON: when index.json carries no names (some writers
// only annotate manifest.json), the RepoTags of the matching config apply.
func TestNamesFromManifestJSON(t *testing.T) {
	f := newFixture(t)
	data := save(t, f.st, archive.FormatDocker, archive.Entry{Image: f.a, Names: []string{"docker.io/library/alpha:1"}})
	var entries []tarEntry
	eachTarEntry(t, data, func(h *tar.Header, b []byte) {
		if h.Name == "index.json" {
			var idx v1.IndexManifest
			must(t, json.Unmarshal(b, &idx))
			for i := range idx.Manifests {
				idx.Manifests[i].Annotations = nil
			}
			var err error
			b, err = json.Marshal(idx)
			must(t, err)
		}
		entries = append(entries, tarEntry{name: h.Name, body: b, typ: h.Typeflag})
	})
	loaded, err := load(t, newStore(t), makeTar(t, entries...))
	must(t, err)
	if len(loaded) != 1 || !slices.Equal(loaded[0].Names, []string{"docker.io/library/alpha:1"}) {
		t.Errorf("loaded %+v", loaded)
	}
}

// TestWriteHoldsEveryBlob: Hold sees each blob of the archive once, before
// anything is written, so the store can keep them from a concurrent GC.
func TestWriteHoldsEveryBlob(t *testing.T) {
	f := newFixture(t)
	var held []string
	var buf bytes.Buffer
	err := archive.Write(context.Background(), &buf, f.storeEntries(t), archive.WriteOptions{Hold: func(h v1.Hash) error {
		if buf.Len() != 0 {
			t.Errorf("Hold(%s) called after writing began", h)
		}
		held = append(held, "blobs/sha256/"+h.Hex)
		return nil
	}})
	must(t, err)
	var blobs []string
	for _, n := range tarNames(t, buf.Bytes()) {
		if strings.HasPrefix(n, "blobs/sha256/") && len(n) > len("blobs/sha256/") {
			blobs = append(blobs, n)
		}
	}
	if !slices.Equal(held, blobs) {
		t.Errorf("held %q, archive has %q", held, blobs)
	}
}
