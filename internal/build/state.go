package build

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

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
	for _, r := range StateRecords(stateDir) {
		if r.Type == CacheRegular {
			u.Records++
		}
		u.Size += r.Size
	}
	return u
}

// CacheRecord is one record of the build cache as `system df -v` lists it
// and the Engine API's GET /system/df reports it (Docker's build cache
// record, in berth's terms).
type CacheRecord struct {
	ID          string
	Type        string // CacheRegular, CacheMount or CacheInternal, as Docker names them
	Description string
	Size        int64
	Created     time.Time
	// LastUsed is when the record was last written; berth counts no uses,
	// so UsageCount stays 0.
	LastUsed   time.Time
	UsageCount int
}

// Docker's names for the kinds of build cache record.
const (
	CacheRegular  = "regular"         // a step's result (berth: a step cache record, an unpacked layer)
	CacheMount    = "exec.cachemount" // a RUN --mount=type=cache directory
	CacheInternal = "internal"        // the builder's own bookkeeping (berth: last-build records, interrupted downloads)
)

// StateRecords lists the build cache kept under stateDir: each step cache
// record (named by its cache key, described by the instruction when the
// last build of its Dockerfile recorded it), RUN cache mount and last-build
// record. Their sizes add up to what Prune with All reclaims from it.
func StateRecords(stateDir string) []CacheRecord {
	texts := map[string]string{} // cache key -> instruction, from the last-build records
	var recs []CacheRecord
	lasts, _ := filepath.Glob(filepath.Join(stateDir, "last", "*.json"))
	for _, p := range lasts {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		var steps map[string]*stepRecord
		if data, err := os.ReadFile(p); err == nil && json.Unmarshal(data, &steps) == nil {
			for _, st := range steps {
				if st != nil && st.Key != "" {
					texts[st.Key] = st.Text
				}
			}
		}
		id := strings.TrimSuffix(filepath.Base(p), ".json")
		recs = append(recs, CacheRecord{ID: id, Type: CacheInternal, Description: "last build's record of its steps",
			Size: fi.Size(), Created: fi.ModTime(), LastUsed: fi.ModTime()})
	}
	steps, _ := filepath.Glob(filepath.Join(stateDir, "cache", "*", "*.json"))
	for _, p := range steps {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		key := strings.TrimSuffix(filepath.Base(p), ".json")
		r := CacheRecord{ID: key, Type: CacheRegular, Size: fi.Size(), Created: fi.ModTime(), LastUsed: fi.ModTime()}
		var e cacheEntry
		if data, err := os.ReadFile(p); err == nil && json.Unmarshal(data, &e) == nil && !e.Created.IsZero() {
			r.Created = e.Created
		}
		r.Description = texts[key]
		if r.Description == "" {
			r.Description = "step cache record"
		}
		recs = append(recs, r)
	}
	mounts, _ := os.ReadDir(filepath.Join(stateDir, "mounts"))
	for _, m := range mounts {
		fi, err := m.Info()
		if err != nil || !m.IsDir() {
			continue
		}
		recs = append(recs, CacheRecord{ID: m.Name(), Type: CacheMount, Description: "RUN --mount=type=cache directory",
			Size: fsutil.TreeSize(filepath.Join(stateDir, "mounts", m.Name())), Created: fi.ModTime(), LastUsed: fi.ModTime()})
	}
	return recs
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
