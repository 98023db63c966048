package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/store"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func makeIndex(t testing.TB, imgs map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	keys := make([]string, 0, len(imgs))
	for k := range imgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var adds []mutate.IndexAddendum
	for _, k := range keys {
		p, err := v1.ParsePlatform(k)
		must(t, err)
		adds = append(adds, mutate.IndexAddendum{Add: imgs[k], Descriptor: v1.Descriptor{Platform: p}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

func newStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	must(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// save writes entries from st into a byte slice.
func save(t testing.TB, st *store.Store, format archive.Format, entries ...archive.Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	must(t, archive.Write(context.Background(), &buf, entries, archive.WriteOptions{Format: format}))
	return buf.Bytes()
}

// load reads data into st like `berth load`: blobs first, then one
// reference record per image.
func load(t testing.TB, st *store.Store, data []byte) ([]archive.Loaded, error) {
	t.Helper()
	ctx := context.Background()
	loaded, err := archive.Load(ctx, bytes.NewReader(data), sinkOf(st), archive.LoadOptions{})
	if err != nil {
		return nil, err
	}
	for _, l := range loaded {
		if _, err := st.AddImage(ctx, l.Descriptor, l.Names...); err != nil {
			return nil, err
		}
	}
	return loaded, nil
}

// state is everything a load may change in a store: blob names, temp
// files and the reference index.
func state(t testing.TB, st *store.Store) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []string{"blobs/sha256", "tmp"} {
		entries, _ := os.ReadDir(filepath.Join(st.Root(), dir))
		for _, e := range entries {
			fmt.Fprintf(&b, "%s/%s\n", dir, e.Name())
		}
	}
	idx, _ := os.ReadFile(filepath.Join(st.Root(), "index.json"))
	b.Write(idx)
	return b.String()
}

// tarEntry is one entry of a hand-made archive.
// eachTarEntry calls fn with every entry of the tar in data, body read.
func eachTarEntry(t testing.TB, data []byte, fn func(h *tar.Header, body []byte)) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		must(t, err)
		b, err := io.ReadAll(tr)
		must(t, err)
		fn(h, b)
	}
}

type tarEntry struct {
	name     string
	body     []byte
	typ      byte
	linkname string
}

func makeTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Typeflag: typ, Name: e.name, Mode: 0o644, Linkname: e.linkname}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		must(t, tw.WriteHeader(h))
		if typ == tar.TypeReg {
			_, err := tw.Write(e.body)
			must(t, err)
		}
	}
	must(t, tw.Close())
	return buf.Bytes()
}

// tarNames lists the entry names of an archive in order.
func tarNames(t testing.TB, data []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		must(t, err)
		names = append(names, h.Name)
	}
}

// tarFile returns one entry's content.
func tarFile(t testing.TB, data []byte, name string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("archive has no %s", name)
		}
		must(t, err)
		if h.Name == name {
			b, err := io.ReadAll(tr)
			must(t, err)
			return b
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func digestOf(t testing.TB, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := x.Digest()
	must(t, err)
	return d
}

// blobs gives the local store the archive.BlobStore shape, as cli does.
type blobs struct{ *store.Store }

func (b blobs) NewBlob() (archive.BlobWriter, error) {
	w, err := b.NewBlobWriter()
	if err != nil {
		return nil, err
	}
	return w, nil
}

func sinkOf(st *store.Store) archive.Sink { return archive.StoreSink(blobs{st}) }

// collected is the state of st after what berth load does on failure:
// release this process's lease and run the store's garbage collection.
func collected(t testing.TB, st *store.Store) string {
	t.Helper()
	ctx := context.Background()
	must(t, st.Close())
	again, err := store.Open(ctx, st.Root())
	must(t, err)
	defer again.Close()
	_, err = again.GC(ctx)
	must(t, err)
	return state(t, again)
}
