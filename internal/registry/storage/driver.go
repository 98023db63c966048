package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors every Driver returns (wrapped or not).
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrPrecondition: a conditional Put or Delete lost a race.
	ErrPrecondition = errors.New("precondition failed")
	// ErrInvalidKey: the key is not a clean relative path.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrUnavailable: the store did not answer, or answered that it cannot
	// serve now (a network error, a timeout, a 5xx). The request may be
	// retried; the registry answers 503.
	ErrUnavailable = errors.New("storage unavailable")
)

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ETag changes whenever the object is replaced; it is opaque.
	ETag string
}

// Cond makes a Put conditional. The zero value writes unconditionally.
type Cond struct {
	// IfNoneMatch: only create; fail with ErrPrecondition when the object exists.
	IfNoneMatch bool
	// IfMatch: only replace the object whose ETag is this; "" means no check.
	IfMatch string
}

// Reader reads a stored object. Readers of the filesystem driver are
// *os.File, so net/http can send them with sendfile.
type Reader interface {
	io.ReadSeekCloser
}

// Driver is the storage the registry needs. Keys are slash-separated relative
// paths made only of [A-Za-z0-9._-] segments (never "." or ".."). Every method
// is safe for concurrent use.
type Driver interface {
	// Stat returns the object's metadata or ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Open opens the object for reading or returns ErrNotFound.
	Open(ctx context.Context, key string) (Reader, error)
	// Put stores everything read from r as key, atomically: readers see the
	// old object or the new one, never a part. Any read error from r aborts
	// the Put and leaves nothing behind (a verifying reader uses this to
	// refuse content whose digest is wrong).
	Put(ctx context.Context, key string, r io.Reader, c Cond) (Info, error)
	// Delete removes the object; ErrNotFound when it is absent.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in no
	// particular order. Only garbage collection lists.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// Locker is implemented by drivers that can exclude other processes for a
// short critical section (the filesystem uses flock). Garbage collection uses
// it so that a blob is never swept while a push links it.
type Locker interface {
	Lock(ctx context.Context, name string, exclusive bool) (unlock func(), err error)
}

// Mover is implemented by drivers that can make an object appear under
// another key without the bytes passing through the caller: a rename on a
// filesystem, a server-side copy then delete on an object store. Readers of
// dst see the whole object or nothing. The registry uses it to turn a
// one-chunk upload into a blob without writing it twice; without it, the
// chunk is copied.
type Mover interface {
	Move(ctx context.Context, src, dst string) error
}

// Sweeper is implemented by drivers that keep files of their own beside the
// objects (temporary files of writes in progress, lock files), which List
// never shows. Sweep removes those under prefix that nothing needs any more:
// temporary files last written before `before` (their writer is gone), lock
// files of objects that no longer exist, and directories empty since before. It
// returns the files it removed or, with dryRun, would remove. Garbage
// collection calls it, so that a killed writer or an older version leaves
// nothing behind for ever.
type Sweeper interface {
	Sweep(ctx context.Context, prefix string, before time.Time, dryRun bool) ([]Info, error)
}

// Redirector is implemented by drivers that can give a client a URL to
// fetch an object from directly (a presigned GET on an object store), so
// that large blobs never pass through the registry. An empty URL means "no
// redirect for this one, serve it yourself".
type Redirector interface {
	RedirectURL(ctx context.Context, key, method string) (string, error)
}

// Composer is implemented by drivers that can build an object from others
// without the bytes passing through the caller (S3's UploadPartCopy). The
// registry finishes a chunked upload with it: dst becomes the
// concatenation of srcs (whose sizes the caller knows), whole or not at all.
type Composer interface {
	Compose(ctx context.Context, dst string, srcs []Info) (Info, error)
}

// Getter is implemented by drivers that read a small object and the ETag
// of exactly what they read in one operation (one GET on an object store,
// an open file and its fstat on a filesystem). The registry reads its
// metadata objects with it; without it, a read is bracketed by two Stats.
// An object larger than limit is an error.
type Getter interface {
	Get(ctx context.Context, key string, limit int64) ([]byte, Info, error)
}
