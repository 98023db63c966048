package build

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testenv"
)

// FuzzAddUntar is ADD of a local file: its first bytes decide whether it
// is a (compressed) tar, which is then extracted into the layer. It must
// not panic, and every entry of the layer it writes must have a clean name
// inside the image's root, hard links included. (Entries may land outside
// the destination: as with Docker, the archive's own links and the image's
// are followed inside the root, so "d -> /etc" then "d/x" writes /etc/x.)
func FuzzAddUntar(f *testing.F) {
	for _, s := range testenv.HostileTars(f) {
		f.Add(s)
	}
	f.Add([]byte("just a file, copied as it is"))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0})
	ctx := context.Background()
	st, err := store.Open(ctx, f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	b := &Builder{opts: Options{Blobs: storeBlobs{st}, Log: slog.New(slog.DiscardHandler)}}
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "archive.tar")
		os.WriteFile(file, data, 0o644)
		lw, err := b.newLayerWriter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tree := &fsTree{m: map[string]*tar.Header{}, from: map[string]int{}}
		cw := &copyWriter{b: b, lw: lw, tree: tree, written: map[string]bool{}}
		_, uerr := cw.maybeUntar(ctx, file, "dst")
		l, ok, err := lw.Close()
		if err != nil || !ok || uerr != nil {
			return
		}
		rc, err := b.v1Layer(l).Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("the layer written is not a tar: %v", err)
			}
			names := []string{h.Name}
			if h.Typeflag == tar.TypeLink {
				names = append(names, h.Linkname)
			}
			for _, n := range names {
				if err := fsutil.CheckTarPath(strings.TrimSuffix(n, "/")); err != nil {
					t.Fatalf("the layer holds %q (%s): %v", n, h.Name, err)
				}
			}
		}
	})
}

// FuzzInlineCache is the inline-cache label of a --cache-from image, which
// anyone may have built. parseInlineCache must not panic and must keep only
// entries with a 64-hex key whose layer is one of the image's own, with its
// diff ID.
func FuzzInlineCache(f *testing.F) {
	dig := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	diff := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	own := map[v1.Hash]v1.Hash{dig: diff}
	good, _ := json.Marshal([]cacheStep{
		{Key: strings.Repeat("c", 64), Entry: cacheEntry{Layer: &Layer{Digest: dig, DiffID: diff, Size: 10, MediaType: types.OCILayer}}},
		{Key: strings.Repeat("d", 64), Entry: cacheEntry{}},
	})
	f.Add(string(good))
	f.Add(`[{"k":"` + strings.Repeat("e", 64) + `","e":{"layer":{"digest":"sha256:` + strings.Repeat("f", 64) + `","diffID":"sha256:00","size":-1,"mediaType":"x"}}}]`)
	f.Add(`[{"k":"../../x","e":{}}]`)
	f.Add(`{"k":1}`)
	f.Fuzz(func(t *testing.T, label string) {
		entries, err := parseInlineCache(label, own)
		if err != nil {
			return
		}
		for k, e := range entries {
			if !isHex64(k) {
				t.Fatalf("kept key %q", k)
			}
			if l := e.Layer; l != nil && (l.Digest != dig || l.DiffID != diff || l.Size < 0 || !l.MediaType.IsLayer()) {
				t.Fatalf("kept layer %+v, which is not the image's", *l)
			}
		}
	})
}
