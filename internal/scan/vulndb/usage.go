package vulndb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/berth-dev/berth/internal/fsutil"
)

// Usage is the disk the database at a path takes, with what lives beside
// it: the state file and partial downloads of interrupted updates.
type Usage struct {
	Sources   int   // sources the database holds
	Size      int64 // the database, its state file and the downloads
	Downloads int64 // of which partial downloads
}

// DiskUsage measures the database at dbPath; a missing one is zero.
func DiskUsage(ctx context.Context, dbPath string) Usage {
	var u Usage
	for _, p := range []string{dbPath, statePath(dbPath)} {
		if fi, err := os.Stat(p); err == nil {
			u.Size += fi.Size()
		}
	}
	u.Downloads = fsutil.TreeSize(DownloadDir(dbPath))
	u.Size += u.Downloads
	if db, err := Open(ctx, dbPath); err == nil {
		if st, err := db.Status(); err == nil {
			u.Sources = len(st.Sources)
		}
		db.Close()
	}
	return u
}

// PruneDownloads removes the partial downloads of interrupted updates when
// no update is running (one would resume them) and returns the bytes freed.
func PruneDownloads(dbPath string) int64 {
	if _, err := os.Stat(DownloadDir(dbPath)); err != nil {
		return 0
	}
	unlock, ok, err := fsutil.TryLock(lockPath(dbPath))
	if err != nil || !ok {
		return 0
	}
	defer unlock()
	n := fsutil.TreeSize(DownloadDir(dbPath))
	if err := os.RemoveAll(DownloadDir(dbPath)); err != nil {
		return 0
	}
	return n
}

// Remove deletes the database at dbPath, its state file and partial
// downloads, once a running update is done, and returns the bytes freed.
// A scan that has the database open reads it to its end; the next scan
// fetches a new one (or, offline, says how to get one).
func Remove(ctx context.Context, dbPath string) (int64, error) {
	if _, err := os.Stat(lockPath(dbPath)); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
	}
	unlock, err := fsutil.LockContext(ctx, lockPath(dbPath))
	if err != nil {
		return 0, fmt.Errorf("locking vulnerability database: %w", err)
	}
	defer unlock()
	removeStaleBuilds(dbPath)
	u := DiskUsage(ctx, dbPath)
	for _, p := range []string{dbPath, statePath(dbPath)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
	}
	if err := os.RemoveAll(DownloadDir(dbPath)); err != nil {
		return 0, err
	}
	return u.Size, nil
}
