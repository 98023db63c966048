package build

import (
	"archive/tar"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// storeBlobs adapts the real local store to BlobStore for package tests.
type storeBlobs struct{ s *store.Store }

func (b storeBlobs) HasBlob(h v1.Hash) bool                    { return b.s.HasBlob(h) }
func (b storeBlobs) OpenBlob(h v1.Hash) (io.ReadCloser, error) { return b.s.OpenBlob(h) }
func (b storeBlobs) PutBlob(ctx context.Context, want v1.Hash, r io.Reader) (v1.Hash, int64, error) {
	w, err := b.s.NewBlobWriter()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return v1.Hash{}, 0, err
	}
	return w.Commit(want)
}

// TestLayerWriterNormalises: headers are made reproducible (times clamped
// to the epoch and whole seconds, no user/group names, no atime/ctime) but
// extended attributes survive, and gzip and zstd both round-trip.
func TestLayerWriterNormalises(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	epoch := time.Unix(1700000000, 0).UTC()
	for _, zstd := range []bool{false, true} {
		t.Run(map[bool]string{false: "gzip", true: "zstd"}[zstd], func(t *testing.T) {
			b := &Builder{opts: Options{Blobs: storeBlobs{st}, Epoch: &epoch, Zstd: zstd, Log: slog.New(slog.DiscardHandler)}}
			write := func() Layer {
				lw, err := b.newLayerWriter(ctx)
				if err != nil {
					t.Fatal(err)
				}
				hdrs := []*tar.Header{
					{Name: "old", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(1000, 5), Uname: "bob", Size: 1},
					{Name: "new", Typeflag: tar.TypeReg, Mode: 0o755, ModTime: time.Now(), AccessTime: time.Now(), Size: 1,
						PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "cap", "comment": "drop"}},
				}
				for _, h := range hdrs {
					if err := lw.WriteHeader(h); err != nil {
						t.Fatal(err)
					}
					lw.Write([]byte("x"))
				}
				l, ok, err := lw.Close()
				if err != nil || !ok {
					t.Fatalf("close: %v %v", ok, err)
				}
				return l
			}
			l1, l2 := write(), write()
			if l1 != l2 {
				t.Fatalf("two writes differ: %v %v", l1, l2)
			}
			rc, err := b.v1Layer(l1).Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			tr := tar.NewReader(rc)
			got := map[string]*tar.Header{}
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				got[h.Name] = h
			}
			if h := got["old"]; h == nil || !h.ModTime.Equal(time.Unix(1000, 0)) || h.Uname != "" {
				t.Errorf("old: %+v", h)
			}
			if h := got["new"]; h == nil || !h.ModTime.Equal(epoch) || h.PAXRecords["SCHILY.xattr.security.capability"] != "cap" || h.PAXRecords["comment"] != "" {
				t.Errorf("new: %+v", h)
			}
		})
	}
}
