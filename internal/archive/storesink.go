package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/berth-dev/berth/internal/fsutil"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BlobStore is what StoreSink needs of a content-addressed store: the local
// store (package store) through a one-line wrapper in cli, which turns its
// concrete *BlobWriter into the BlobWriter interface.
type BlobStore interface {
	HasBlob(h v1.Hash) bool
	// Protect reports whether the blob is present and keeps it from a
	// concurrent garbage collection.
	Protect(h v1.Hash) (bool, error)
	// WriteBlob stores r after checking it against h (and size when >= 0).
	WriteBlob(ctx context.Context, h v1.Hash, size int64, r io.Reader) error
	// NewBlob starts a blob whose digest is learnt while writing.
	NewBlob() (BlobWriter, error)
	OpenBlob(h v1.Hash) (*os.File, error)
}

// BlobWriter writes one blob of a BlobStore.
type BlobWriter interface {
	io.Writer
	Commit(expected v1.Hash) (v1.Hash, int64, error)
	Abort()
}

// StoreSink adapts a content-addressed store to Sink.
func StoreSink(s BlobStore) Sink { return storeSink{s} }

type storeSink struct{ s BlobStore }

func (k storeSink) Put(ctx context.Context, want v1.Hash, size int64, r io.Reader) (v1.Hash, int64, error) {
	if want != (v1.Hash{}) {
		if ok, err := k.s.Protect(want); err != nil {
			return want, 0, err
		} else if ok {
			// The store has it, but the archive must still be whole and
			// truthful: read and check the copy it carries.
			n, err := verifyCopy(ctx, io.Discard, r, want, size)
			return want, n, err
		}
		if err := k.s.WriteBlob(ctx, want, size, r); err != nil {
			return want, 0, err
		}
		return want, size, nil
	}
	// The digest is learnt while writing (old-style archives name layers by
	// path).
	w, err := k.s.NewBlob()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	n, err := fsutil.CopyContext(ctx, w, r)
	if err != nil {
		w.Abort()
		return v1.Hash{}, n, err
	}
	if size >= 0 && n != size {
		w.Abort()
		return v1.Hash{}, n, fmt.Errorf("read %d bytes, want %d", n, size)
	}
	d, n, err := w.Commit(v1.Hash{})
	return d, n, err
}

func (k storeSink) Open(_ context.Context, h v1.Hash) (io.ReadCloser, error) {
	return k.s.OpenBlob(h)
}

// verifyCopy copies r to w and checks the digest and, when size >= 0, the
// length.
func verifyCopy(ctx context.Context, w io.Writer, r io.Reader, want v1.Hash, size int64) (int64, error) {
	h := sha256.New()
	n, err := fsutil.CopyContext(ctx, io.MultiWriter(w, h), r)
	if err != nil {
		return n, err
	}
	if size >= 0 && n != size {
		return n, fmt.Errorf("blob %s: size %d does not match the expected %d", want, n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return n, fmt.Errorf("digest mismatch: content is sha256:%s, expected %s", got, want)
	}
	return n, nil
}
