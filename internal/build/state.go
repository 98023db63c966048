package build

import (
	"context"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// lockName is held shared by every running build and exclusively by Prune
// while it removes build cache, so a prune never takes a layer or a cache
// record from under a build.
const lockName = "build.lock"

// LockState holds the state directory (Options.StateDir) for one build
// until unlock is called: Prune leaves the cache alone meanwhile.
func LockState(stateDir string) (unlock func(), err error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	return fsutil.LockShared(filepath.Join(stateDir, lockName))
}

// CacheUsage is the build's own part of `system df`'s Build Cache row: the
// step cache records and the bytes of the step cache, the RUN cache mounts
// and the records of the last builds.
type CacheUsage struct {
	Records int
	Size    int64
}

// StateUsage measures the build cache kept under stateDir.
func StateUsage(stateDir string) CacheUsage {
	var u CacheUsage
	recs, _ := filepath.Glob(filepath.Join(stateDir, "cache", "*", "*.json"))
	u.Records = len(recs)
	for _, d := range []string{"cache", "mounts", "last"} {
		u.Size += fsutil.TreeSize(filepath.Join(stateDir, d))
	}
	return u
}

// Cache is another cache a build fills that Prune empties with its own:
// the executor's unpacked layers, the scanner's layer inventories.
type Cache interface {
	// PruneCache removes what no image of inUse (lists of diff IDs,
	// bottom first) needs — everything when inUse is nil — and reports
	// the bytes freed.
	PruneCache(ctx context.Context, inUse [][]v1.Hash) (int64, error)
}

// PruneOptions are the options of Prune; the zero value removes what no
// image needs.
type PruneOptions struct {
	All    bool        // also every step cache record, RUN cache mount and last-build record
	InUse  [][]v1.Hash // the diff IDs of the images whose layers stay (ignored with All)
	Caches []Cache     // pruned with the build cache, under its lock
}

// PruneReport says what Prune freed.
type PruneReport struct {
	Reclaimed int64
	Busy      bool // a build was running: nothing was removed
}

// Prune is `builder prune` and POST /build/prune: unless a build is running,
// it prunes each of opts.Caches, removes the temp files killed builds left
// (StateDir/tmp), and with All the step cache, RUN cache mounts and
// last-build records.
func Prune(ctx context.Context, stateDir string, opts PruneOptions) (PruneReport, error) {
	var rep PruneReport
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return rep, err
	}
	unlock, ok, err := fsutil.TryLock(filepath.Join(stateDir, lockName))
	if err != nil {
		return rep, err
	}
	if !ok {
		rep.Busy = true
		return rep, nil
	}
	defer unlock()
	inUse := opts.InUse
	if opts.All {
		inUse = nil
	} else if inUse == nil {
		inUse = [][]v1.Hash{}
	}
	for _, c := range opts.Caches {
		n, err := c.PruneCache(ctx, inUse)
		rep.Reclaimed += n
		if err != nil {
			return rep, err
		}
	}
	// No build runs (the lock is ours): whatever is in tmp was left by
	// builds that were killed.
	rep.Reclaimed += sweepWorkspaces(filepath.Join(stateDir, "tmp"), true)
	if opts.All {
		for _, dir := range []string{"cache", "mounts", "last"} {
			p := filepath.Join(stateDir, dir)
			rep.Reclaimed += fsutil.TreeSize(p)
			if err := os.RemoveAll(p); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}
