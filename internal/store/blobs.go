package store

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BlobPath returns where the blob with digest h lives (or would live).
func (s *Store) BlobPath(h v1.Hash) string {
	return s.path("blobs", h.Algorithm, h.Hex)
}

// HasBlob reports whether the blob is present.
func (s *Store) HasBlob(h v1.Hash) bool {
	if !validHash(h) {
		return false
	}
	_, err := os.Stat(s.BlobPath(h))
	return err == nil
}

// OpenBlob opens a blob for reading.
func (s *Store) OpenBlob(h v1.Hash) (*os.File, error) {
	if !validHash(h) {
		return nil, notFoundf("blob %s: invalid digest", h)
	}
	f, err := os.Open(s.BlobPath(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, notFoundf("blob %s is not in the store", h)
	}
	return f, err
}

// ReadBlob reads a whole (small) blob: a manifest, index or config. Blobs
// larger than limit are refused so a corrupt store cannot exhaust memory.
func (s *Store) ReadBlob(h v1.Hash) ([]byte, error) {
	const limit = 64 << 20
	f, err := s.OpenBlob(h)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", h, limit)
	}
	return b, nil
}

// WriteBlob stores the blob with digest h read from r, verifying the digest
// and, when size >= 0, the size before the blob becomes visible. A blob that
// is already present is kept (and protected from a concurrent GC) without
// reading r.
func (s *Store) WriteBlob(ctx context.Context, h v1.Hash, size int64, r io.Reader) error {
	if !validHash(h) {
		return fmt.Errorf("invalid digest %s", untrusted.Quote(h.String()))
	}
	if ok, err := s.protectIfPresent(h); err != nil || ok {
		return err
	}
	w, err := s.newBlobWriter(h.Algorithm)
	if err != nil {
		return err
	}
	if _, err := fsutil.CopyContext(ctx, w, r); err != nil {
		w.Abort()
		return err
	}
	if size >= 0 && w.n != size {
		w.Abort()
		return fmt.Errorf("blob %s: size %d does not match the expected %d", h, w.n, size)
	}
	_, _, err = w.Commit(h)
	return err
}

// BlobWriter writes a blob whose digest is learnt while writing.
type BlobWriter struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	alg  string
	n    int64
	done bool
}

// NewBlobWriter starts a sha256 blob whose digest is not known in advance.
func (s *Store) NewBlobWriter() (*BlobWriter, error) { return s.newBlobWriter("sha256") }

func (s *Store) newBlobWriter(alg string) (*BlobWriter, error) {
	_, id, err := s.lease()
	if err != nil {
		return nil, err
	}
	var h hash.Hash
	switch alg {
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		return nil, fmt.Errorf("unsupported digest algorithm %s", untrusted.Quote(alg))
	}
	f, err := os.CreateTemp(s.path("tmp"), id+"-")
	if err != nil {
		return nil, err
	}
	return &BlobWriter{s: s, f: f, h: h, alg: alg}, nil
}

func (w *BlobWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Size is the number of bytes written so far.
func (w *BlobWriter) Size() int64 { return w.n }

// Commit verifies the content against expected (when it is not the zero
// Hash), makes it durable and moves it into place. It returns the digest and
// size of what was written.
func (w *BlobWriter) Commit(expected v1.Hash) (v1.Hash, int64, error) {
	if w.done {
		return v1.Hash{}, 0, errors.New("blob writer already finished")
	}
	got := v1.Hash{Algorithm: w.alg, Hex: hex.EncodeToString(w.h.Sum(nil))}
	if expected != (v1.Hash{}) && expected != got {
		w.Abort()
		return v1.Hash{}, 0, fmt.Errorf("digest mismatch: content is %s, expected %s", got, expected)
	}
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return v1.Hash{}, 0, err
	}
	if err := w.f.Close(); err != nil {
		w.Abort()
		return v1.Hash{}, 0, err
	}
	w.done = true
	err := w.s.withGCShared(func() error {
		if err := w.s.recordLease(got); err != nil {
			return err
		}
		dst := w.s.BlobPath(got)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if _, err := os.Stat(dst); err == nil {
			return os.Remove(w.f.Name()) // someone else stored it first
		}
		if err := os.Chmod(w.f.Name(), 0o444); err != nil {
			return err
		}
		if err := os.Rename(w.f.Name(), dst); err != nil {
			return err
		}
		return fsutil.SyncDir(filepath.Dir(dst))
	})
	if err != nil {
		os.Remove(w.f.Name())
		return v1.Hash{}, 0, fmt.Errorf("storing blob %s: %w", got, err)
	}
	return got, w.n, nil
}

// Abort discards the blob.
func (w *BlobWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

// protectIfPresent records h in this process's lease when the blob exists,
// so a concurrent GC keeps it until the process references it or ends.
func (s *Store) protectIfPresent(h v1.Hash) (bool, error) {
	present := false
	err := s.withGCShared(func() error {
		if _, err := os.Stat(s.BlobPath(h)); err != nil {
			return nil
		}
		present = true
		return s.recordLease(h)
	})
	return present, err
}

// Protect keeps an existing blob from being collected for as long as this
// store is open. Writers call it for blobs they reuse rather than write.
func (s *Store) Protect(h v1.Hash) (bool, error) { return s.protectIfPresent(h) }

func (s *Store) recordLease(h v1.Hash) error {
	f, _, err := s.lease()
	if err != nil {
		return err
	}
	_, err = f.WriteString(h.String() + "\n")
	return err
}

func (s *Store) withGCShared(fn func() error) error {
	unlock, err := fsutil.LockShared(s.path("gc.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

func validHash(h v1.Hash) bool {
	var n int
	switch h.Algorithm {
	case "sha256":
		n = 64
	case "sha512":
		n = 128
	default:
		return false
	}
	if len(h.Hex) != n {
		return false
	}
	for _, c := range h.Hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// AdoptBlob moves a finished file at path (on the store's file system, e.g.
// a resumable download under ROOT) into the store as blob h without copying
// it. The caller vouches for the content: it must have hashed exactly the
// bytes of the file against h and fsynced it. The size is checked here; on
// success the file is gone from path.
func (s *Store) AdoptBlob(ctx context.Context, h v1.Hash, size int64, path string) error {
	if !validHash(h) {
		return fmt.Errorf("invalid digest %s", untrusted.Quote(h.String()))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if size >= 0 && info.Size() != size {
		return fmt.Errorf("blob %s: size %d does not match the expected %d", h, info.Size(), size)
	}
	return s.withGCShared(func() error {
		if err := s.recordLease(h); err != nil {
			return err
		}
		dst := s.BlobPath(h)
		if _, err := os.Stat(dst); err == nil {
			return os.Remove(path)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(path, 0o444); err != nil {
			return err
		}
		if err := os.Rename(path, dst); err != nil {
			return fmt.Errorf("adopting blob %s: %w", h, err)
		}
		return fsutil.SyncDir(filepath.Dir(dst))
	})
}
