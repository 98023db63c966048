package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Store is a directory of unpacked layers, safe for concurrent use by
// goroutines and processes.
type Store struct {
	root string
	opts Options
	mu   sync.Mutex
	busy map[string]*sync.Mutex // one in-process lock per digest, in front of the flock
}

// Options changes how a Store touches the disk; the zero value extracts and
// removes in this process.
type Options struct {
	// Extract unpacks a layer tar into an empty directory; nil means
	// Extract of this package. Rootless berth passes one that extracts as
	// root of its user namespace, so file ownership survives.
	Extract func(ctx context.Context, dir string, r io.Reader) error
	// RemoveAll deletes a directory tree; nil means fsutil.RemoveAll (which
	// copes with unreadable directories). It must match Extract: files
	// owned by subordinate ids can only be deleted inside the namespace.
	RemoveAll func(ctx context.Context, path string) error
}

// New opens (creating if needed) the snapshot directory root, e.g.
// ROOT/snapshots, and removes unpacks left over by killed processes.
func New(root string) (*Store, error) {
	return NewWith(root, Options{})
}

// NewWith is New with Options.
func NewWith(root string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(root, "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("creating snapshot directory: %w", err)
	}
	if opts.Extract == nil {
		opts.Extract = Extract
	}
	if opts.RemoveAll == nil {
		opts.RemoveAll = func(_ context.Context, p string) error { return fsutil.RemoveAll(p) }
	}
	s := &Store{root: root, opts: opts, busy: map[string]*sync.Mutex{}}
	s.sweep()
	return s, nil
}

// sweep removes tmp-* directories whose unpacking process is gone. A live
// unpack holds a flock on its temp dir's lock file, so only dead ones go.
func (s *Store) sweep() {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "tmp-") || strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		lock := filepath.Join(s.root, e.Name()+".lock")
		f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			_ = s.opts.RemoveAll(context.Background(), filepath.Join(s.root, e.Name()))
			_ = os.Remove(lock)
		}
		f.Close()
	}
}

func (s *Store) dir(diffID v1.Hash) (string, error) {
	if diffID.Algorithm != "sha256" || len(diffID.Hex) != 64 {
		return "", fmt.Errorf("invalid layer digest %q: want sha256:<64 hex digits>", diffID.String())
	}
	if _, err := hex.DecodeString(diffID.Hex); err != nil {
		return "", fmt.Errorf("invalid layer digest %q: %w", diffID.String(), err)
	}
	return filepath.Join(s.root, "sha256", diffID.Hex), nil
}

// Unpack returns the directory holding the layer whose uncompressed tar
// digest is diffID, unpacking r into it first when it is not there yet. r is
// the uncompressed layer tar; its sha256 is verified against diffID before
// the directory is published (atomically, by rename). Concurrent calls for
// one digest unpack it once. r is not read when the layer is present.
func (s *Store) Unpack(ctx context.Context, diffID v1.Hash, r io.Reader) (dir string, err error) {
	dir, err = s.dir(diffID)
	if err != nil {
		return "", err
	}
	if isDir(dir) {
		return dir, nil
	}
	s.mu.Lock()
	m := s.busy[diffID.Hex]
	if m == nil {
		m = &sync.Mutex{}
		s.busy[diffID.Hex] = m
	}
	s.mu.Unlock()
	m.Lock()
	defer m.Unlock()

	lf, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("locking layer %s: %w", diffID, err)
	}
	defer lf.Close()
	if err := flock(ctx, lf); err != nil {
		return "", fmt.Errorf("locking layer %s: %w", diffID, err)
	}
	defer unix.Flock(int(lf.Fd()), unix.LOCK_UN)
	if isDir(dir) { // another process finished while we waited
		return dir, nil
	}

	tmp, release, err := s.tempDir()
	if err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	defer release()
	ok := false
	defer func() {
		if !ok {
			_ = s.opts.RemoveAll(ctx, tmp)
		}
	}()
	h := sha256.New()
	if err := s.opts.Extract(ctx, tmp, io.TeeReader(r, h)); err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	// Drain trailing padding so the digest covers the whole stream.
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != diffID.Hex {
		return "", fmt.Errorf("unpacking layer %s: content has digest sha256:%s; the layer is corrupt, pull it again", diffID, got)
	}
	if err := syncDir(tmp); err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	ok = true
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	return dir, nil
}

// Lookup returns the directory of an unpacked layer.
func (s *Store) Lookup(diffID v1.Hash) (dir string, ok bool) {
	dir, err := s.dir(diffID)
	if err != nil || !isDir(dir) {
		return "", false
	}
	return dir, true
}

// Remove deletes an unpacked layer (for garbage collection); removing an
// absent layer is not an error. The caller makes sure no build uses it.
func (s *Store) Remove(ctx context.Context, diffID v1.Hash) error {
	dir, err := s.dir(diffID)
	if err != nil {
		return err
	}
	lf, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("removing layer %s: %w", diffID, err)
	}
	defer lf.Close()
	if err := flock(ctx, lf); err != nil {
		return fmt.Errorf("removing layer %s: %w", diffID, err)
	}
	defer os.Remove(dir + ".lock")
	// Rename first so a crash never leaves a half-removed layer under its name.
	gone, release, err := s.tempDir()
	if err != nil {
		return fmt.Errorf("removing layer %s: %w", diffID, err)
	}
	defer release()
	if err := os.Rename(dir, filepath.Join(gone, "x")); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.Remove(gone)
		return fmt.Errorf("removing layer %s: %w", diffID, err)
	}
	if err := s.opts.RemoveAll(ctx, gone); err != nil {
		return fmt.Errorf("removing layer %s: %w", diffID, err)
	}
	return nil
}

// tempDir makes a tmp-* directory that sweep leaves alone until release.
// Its lock file is created (exclusively, which also picks the name) and
// locked before the directory exists: a sweep in another process that saw
// the directory first and the lock later would otherwise find the lock free
// and delete a live unpack. release unlocks and removes the lock file; the
// directory is the caller's to rename or remove.
func (s *Store) tempDir() (dir string, release func(), err error) {
	for range 100 {
		dir = filepath.Join(s.root, "tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		lf, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		release = func() { os.Remove(dir + ".lock"); lf.Close() }
		if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			release() // a sweep holds the name it just created; take another
			continue
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			release()
			if errors.Is(err, os.ErrExist) {
				continue
			}
			return "", nil, err
		}
		return dir, release, nil
	}
	return "", nil, fmt.Errorf("creating a temporary directory in %s: too many name collisions", s.root)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func flock(ctx context.Context, f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		if err := sleepCtx(ctx); err != nil {
			return err
		}
	}
}

func syncDir(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
