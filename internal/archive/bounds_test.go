package archive_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/store/storetest"
	"github.com/berth-dev/berth/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// countingSink counts the bytes Load hands the store.
type countingSink struct {
	archive.Sink
	n *atomic.Int64
}

func (c countingSink) Put(ctx context.Context, want v1.Hash, size int64, r io.Reader) (v1.Hash, int64, error) {
	return c.Sink.Put(ctx, want, size, &countReader{r, c.n})
}

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// boundsArchive is a good saved image rebuilt with its metadata (index.json,
// manifest.json, …) and manifest first or last (Docker's order), its layer entry replaced by one of
// bigSize zero bytes when bigSize > 0, and extra entries appended to the
// blobs. The big entry is written as a hole (seekable) or generated as it
// is read (stream), so no test writes 4 GiB.
type boundsArchive struct {
	good          []byte
	layer         string // the entry name of the 1 MiB layer
	manifest      string // the entry name of the image manifest
	metadataFirst bool
	bigSize       int64
	extra         []tarEntry
}

func (a boundsArchive) entries(t testing.TB) (meta, blobs []tarEntry) {
	eachTarEntry(t, a.good, func(h *tar.Header, b []byte) {
		e := tarEntry{name: h.Name, body: b, typ: h.Typeflag, linkname: h.Linkname}
		if strings.HasPrefix(h.Name, "blobs/") {
			blobs = append(blobs, e)
		} else {
			meta = append(meta, e)
		}
	})
	return meta, append(blobs, a.extra...)
}

// write streams the archive to w; the big entry is zeros from a reader or,
// with hole, skipped over in the file f.
func (a boundsArchive) write(t testing.TB, w io.Writer, f *os.File) error {
	meta, blobs := a.entries(t)
	order := append(blobs, meta...)
	if a.metadataFirst {
		// The metadata, then the manifests, then the rest: what each
		// entry should be is said before it comes.
		order = meta
		for _, e := range blobs {
			if e.name == a.manifest {
				order = append(order, e)
			}
		}
		for _, e := range blobs {
			if e.name != a.manifest {
				order = append(order, e)
			}
		}
	}
	tw := tar.NewWriter(w)
	for _, e := range order {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Typeflag: typ, Name: e.name, Linkname: e.linkname, Mode: 0o644}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.name == a.layer && a.bigSize > 0 {
			h.Size = a.bigSize
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if f != nil {
				// A hole: the file is sparse, the tar reader seeks past it.
				if _, err := f.Seek(a.bigSize, io.SeekCurrent); err != nil {
					return err
				}
				tw = tar.NewWriter(w) // the old writer still owes the bytes
				continue
			}
			if _, err := io.Copy(tw, io.LimitReader(zeros{}, a.bigSize)); err != nil {
				return err
			}
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.body); err != nil {
			return err
		}
	}
	return tw.Close()
}

// file writes the archive to a (sparse) file.
func (a boundsArchive) file(t testing.TB) *os.File {
	f, err := os.Create(filepath.Join(t.TempDir(), "a.tar"))
	must(t, err)
	t.Cleanup(func() { f.Close() })
	must(t, a.write(t, f, f))
	_, err = f.Seek(0, io.SeekStart)
	must(t, err)
	return f
}

// gzipStream generates the gzip'd archive as it is read; it stops when the
// reader is closed.
func (a boundsArchive) gzipStream(t testing.TB) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		gz, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		err := a.write(t, gz, nil)
		if err == nil {
			err = gz.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func randomBlob(t testing.TB, n int) (string, []byte) {
	b := make([]byte, n)
	rand.Read(b)
	s := sha256.Sum256(b)
	return "blobs/sha256/" + hex.EncodeToString(s[:]), b
}

// TestLoadBoundsWrites: what a load writes is bounded by what the archive's
// descriptors declare. An entry whose tar header contradicts its descriptor
// is refused before its first byte is stored; an entry nothing references
// is not stored when the archive says so before it; and in a compressed
// stream whose index comes last (Docker's order), what is stored before the
// archive says what it needs is bounded by the compressed bytes read.
func TestLoadBoundsWrites(t *testing.T) {
	// A 1 MiB layer, so that what a refused load wrote shows.
	big := make([]byte, 1<<20)
	rand.Read(big)
	img := testenv.Image(t, "linux/amd64", static.NewLayer(big, types.OCIUncompressedLayer))
	src := newStore(t)
	storetest.Add(t, src, img, "docker.io/library/bounds:1")
	good := save(t, src, archive.FormatDocker, archive.Entry{Image: img, Names: []string{"docker.io/library/bounds:1"}})
	ls, err := img.Layers()
	must(t, err)
	layer := "blobs/sha256/" + digestOf(t, ls[0]).Hex
	extraName, extraBody := randomBlob(t, 4<<20)
	const huge = 4 << 30

	for _, tc := range []struct {
		name    string
		a       boundsArchive
		stream  bool
		wantErr string // "" for success
		maxPut  int64  // bytes the store may be handed at most
	}{
		{"file/oversized-layer", boundsArchive{bigSize: huge}, false, "its descriptor says 1048576", 64 << 10},
		{"file/oversized-layer/metadata-first", boundsArchive{bigSize: huge, metadataFirst: true}, false, "its descriptor says 1048576", 64 << 10},
		{"file/unreferenced-entry", boundsArchive{extra: []tarEntry{{name: extraName, body: extraBody}}}, false, "", 2 << 20},
		{"gzip/oversized-layer/metadata-first", boundsArchive{bigSize: huge, metadataFirst: true}, true, "its descriptor says 1048576", 64 << 10},
		{"gzip/unreferenced-entry/metadata-first", boundsArchive{metadataFirst: true, extra: []tarEntry{{name: extraName, body: extraBody}}}, true, "", 2 << 20},
		// The index comes last: nothing says what the zeros should be
		// until they are read, so they are kept, but only as far as the
		// compressed bytes read allow.
		{"gzip/oversized-layer/metadata-last", boundsArchive{bigSize: huge}, true, "decompress it", 512 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			a.good, a.layer, a.manifest = good, layer, "blobs/sha256/"+digestOf(t, img).Hex
			st := newStore(t)
			var put atomic.Int64
			sink := countingSink{sinkOf(st), &put}
			var r io.Reader
			if tc.stream {
				rc := a.gzipStream(t)
				defer rc.Close()
				r = rc
			} else {
				r = a.file(t)
			}
			start := time.Now()
			loaded, err := archive.Load(context.Background(), r, sink, archive.LoadOptions{})
			took := time.Since(start)
			t.Logf("handed the store %d bytes in %v; err: %v", put.Load(), took, err)
			if put.Load() > tc.maxPut {
				t.Errorf("the load handed the store %d bytes, at most %d expected", put.Load(), tc.maxPut)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				return
			}
			must(t, err)
			if len(loaded) != 1 || loaded[0].Descriptor.Digest != digestOf(t, img) {
				t.Fatalf("loaded %+v", loaded)
			}
			h, _ := v1.NewHash("sha256:" + strings.TrimPrefix(extraName, "blobs/sha256/"))
			if _, err := os.Stat(st.BlobPath(h)); err == nil {
				t.Error("the entry nothing references was stored")
			}
		})
	}
}
