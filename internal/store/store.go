package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/berth-dev/berth/internal/fsutil"
	"golang.org/x/sys/unix"
)

// ErrNotFound is matched (errors.Is) by every "missing" error of the store.
var ErrNotFound = errors.New("not found")

// missing is a not-found error whose message is complete on its own.
type missing struct{ msg string }

func (e missing) Error() string        { return e.msg }
func (e missing) Is(target error) bool { return target == ErrNotFound }

func notFoundf(format string, args ...any) error { return missing{fmt.Sprintf(format, args...)} }

// Store is a local image store rooted at a directory. It is safe for use by
// several goroutines and, through file locks, by several processes.
type Store struct {
	root string

	mu        sync.Mutex
	leaseFile *os.File // opened on first write; flock held until Close
	leaseID   string
}

// DefaultRoot is $BERTH_ROOT, else /var/lib/berth for root, else
// $XDG_DATA_HOME/berth (~/.local/share/berth).
func DefaultRoot() string {
	if r := os.Getenv("BERTH_ROOT"); r != "" {
		return r
	}
	if os.Geteuid() == 0 {
		return "/var/lib/berth"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "berth")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "berth-"+strconv.Itoa(os.Getuid()))
	}
	return filepath.Join(home, ".local", "share", "berth")
}

// Open opens the store at root, creating its layout when missing.
func Open(ctx context.Context, root string) (*Store, error) {
	if root == "" {
		root = DefaultRoot()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"blobs/sha256", "meta/sha256", "tmp", "leases"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("creating store at %s: %w", abs, err)
		}
	}
	layout := filepath.Join(abs, "oci-layout")
	if _, err := os.Stat(layout); errors.Is(err, os.ErrNotExist) {
		if err := fsutil.WriteFileAtomic(layout, []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
			return nil, fmt.Errorf("creating store at %s: %w", abs, err)
		}
	}
	return &Store{root: abs}, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// Close releases the store's lease. Blobs the process stored but never
// referenced become collectable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leaseFile != nil {
		name := s.leaseFile.Name()
		unix.Flock(int(s.leaseFile.Fd()), unix.LOCK_UN)
		s.leaseFile.Close()
		os.Remove(name)
		s.leaseFile = nil
	}
	return nil
}

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

// lease returns this process's lease, creating and locking it on first use.
func (s *Store) lease() (*os.File, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leaseFile != nil {
		return s.leaseFile, s.leaseID, nil
	}
	var b [6]byte
	rand.Read(b[:])
	id := strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
	// The lease appears under its final name only once it is locked: a GC
	// that found it unlocked would take its writer for dead. GC also removes
	// unlocked ".new-" files (left by a writer killed right here); if it
	// removes ours between open and flock, the rename fails and we retry.
	var f *os.File
	for attempt := 0; ; attempt++ {
		tmp := s.path("leases", ".new-"+id)
		nf, err := os.OpenFile(tmp, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
		if err != nil {
			return nil, "", err
		}
		if err := unix.Flock(int(nf.Fd()), unix.LOCK_EX); err != nil {
			nf.Close()
			os.Remove(tmp)
			return nil, "", err
		}
		err = os.Rename(tmp, s.path("leases", id))
		if err == nil {
			f = nf
			break
		}
		nf.Close()
		if !errors.Is(err, os.ErrNotExist) || attempt == 4 {
			return nil, "", err
		}
	}
	s.leaseFile, s.leaseID = f, id
	return f, id, nil
}
