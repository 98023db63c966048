package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// GCResult says what a collection removed.
type GCResult struct {
	Blobs     int
	Reclaimed int64 // bytes
}

// GC deletes every blob that no record of the index needs and no live
// writer holds in its lease, plus temp files of dead writers. It waits for
// writers committing blobs (a short critical section), never for whole
// transfers, so it is safe to run while other berth processes pull or build.
func (s *Store) GC(ctx context.Context) (GCResult, error) {
	var res GCResult
	unlockGC, err := fsutil.LockContext(ctx, s.path("gc.lock"))
	if err != nil {
		return res, fmt.Errorf("locking the store for garbage collection: %w", err)
	}
	defer unlockGC()
	unlockIdx, err := fsutil.LockContext(ctx, s.path("index.lock"))
	if err != nil {
		return res, err
	}
	defer unlockIdx()

	x, err := s.loadIndex()
	if err != nil {
		return res, err
	}
	keep := map[v1.Hash]bool{}
	for _, img := range x.images {
		err := s.walk(img.Descriptor(), func(d v1.Descriptor, _ bool) error {
			keep[d.Digest] = true
			return nil
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return res, fmt.Errorf("reading %s: %w", img.Digest, err)
		}
	}
	live, err := s.liveLeases(keep)
	if err != nil {
		return res, err
	}
	for _, alg := range []string{"sha256", "sha512"} {
		dir := s.path("blobs", alg)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			h := v1.Hash{Algorithm: alg, Hex: e.Name()}
			if keep[h] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return res, err
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
				res.Blobs++
				res.Reclaimed += info.Size()
				os.Remove(s.path("meta", alg, e.Name()))
				os.Remove(s.path("meta", alg, e.Name()) + ".content") // ContentSize's figure
			}
		}
	}
	// Temp files belong to the lease named in their prefix; a dead lease's
	// temp files are leftovers of a killed process. The snapshot of live
	// leases is older than this listing: a writer that started since (its
	// lease is locked before it creates a temp file) is alive too, so an
	// owner the snapshot does not know is asked again.
	if entries, err := os.ReadDir(s.path("tmp")); err == nil {
		for _, e := range entries {
			owner := ownerOf(e.Name())
			if live[owner] {
				continue
			}
			if leaseHeld(s.path("leases", owner)) {
				live[owner] = true
				continue
			}
			if info, err := e.Info(); err == nil {
				res.Reclaimed += info.Size()
			}
			os.RemoveAll(s.path("tmp", e.Name()))
		}
	}
	// Half-written index files: their writers held the index lock, which we
	// hold now, so they are dead.
	if entries, err := os.ReadDir(s.root); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".tmp-index.json-") {
				os.Remove(s.path(e.Name()))
			}
		}
	}
	return res, nil
}

// ownerOf returns the lease id ("pid-rand") a temp file name starts with.
func ownerOf(name string) string {
	parts := strings.SplitN(name, "-", 3)
	if len(parts) < 2 {
		return name
	}
	return parts[0] + "-" + parts[1]
}

// liveLeases adds the digests held by live writers to keep, removes dead
// leases, and returns the ids of the live ones.
func (s *Store) liveLeases(keep map[v1.Hash]bool) (map[string]bool, error) {
	live := map[string]bool{}
	s.mu.Lock()
	own := s.leaseID
	s.mu.Unlock()
	entries, err := os.ReadDir(s.path("leases"))
	if err != nil {
		// Without the leases every writer would look dead.
		return nil, fmt.Errorf("reading the store's leases: %w", err)
	}
	for _, e := range entries {
		p := s.path("leases", e.Name())
		if strings.HasPrefix(e.Name(), ".new-") {
			// Being created: it owns no temp files or blobs yet. Unlocked,
			// its writer died (or has not locked it yet and will retry).
			if unlock, ok, err := fsutil.TryLock(p); err == nil && ok {
				os.Remove(p)
				unlock()
			}
			continue
		}
		if e.Name() != own {
			unlock, ok, err := fsutil.TryLock(p)
			if err != nil {
				continue
			}
			if ok {
				// Nobody holds it: its writer died. Its blobs are fair game.
				os.Remove(p)
				unlock()
				continue
			}
		}
		live[e.Name()] = true
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if h, err := v1.NewHash(strings.TrimSpace(sc.Text())); err == nil {
				keep[h] = true
			}
		}
		f.Close()
	}
	return live, nil
}

// leaseHeld reports whether a live writer holds the lease at p. It never
// creates the file: a lease that is gone has no writer.
func leaseHeld(p string) bool {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return false
	}
	return true // EWOULDBLOCK: held; anything else: keep the file, to be safe
}
