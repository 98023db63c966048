package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Sweep implements Sweeper. Under prefix it removes ".tmp-*" files (a Put
// killed before its rename) last modified before `before`, ".<name>.lock"
// files whose object is gone (dropLock, under the lock), and empty
// directories below the root's own subdirectories unchanged since before. The named locks of Lock
// (ROOT/.locks) are never touched.
func (d *FS) Sweep(ctx context.Context, prefix string, before time.Time, dryRun bool) ([]Info, error) {
	var removed []Info
	var dirs []string
	err := d.walk(ctx, prefix, func(p, start string, de fs.DirEntry) error {
		rel := strings.TrimPrefix(p, d.root+"/")
		if p == d.root || !strings.HasPrefix(rel, prefix) && !strings.HasPrefix(prefix, rel+"/") {
			return nil
		}
		name := de.Name()
		if de.IsDir() {
			if strings.HasPrefix(name, ".") && p != start {
				return filepath.SkipDir // .locks, or nothing of ours
			}
			// An empty directory changed recently is one a Put is about
			// to write into (or a Delete just emptied, and pruned).
			if fi, err := de.Info(); err == nil && fi.ModTime().Before(before) {
				dirs = append(dirs, p)
			}
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return nil // removed while walking
		}
		switch {
		case strings.HasPrefix(name, ".tmp-") && fi.ModTime().Before(before):
			if !dryRun {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("removing %s: %w", rel, err)
				}
			}
		case strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".lock") && len(name) > len("..lock"):
			obj := filepath.Join(filepath.Dir(p), strings.TrimSuffix(name[1:], ".lock"))
			ok, err := dropLock(obj, dryRun)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
		default:
			return nil
		}
		removed = append(removed, Info{Key: rel, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("sweeping %s: %w", prefix, err)
	}
	if !dryRun {
		// Deepest first, so that a directory holding only empty ones goes
		// too (removing a child updates its parent's mtime, but the parent
		// was judged when it was walked).
		for i := len(dirs) - 1; i >= 0; i-- {
			if filepath.Dir(dirs[i]) != d.root {
				os.Remove(dirs[i]) // fails, harmlessly, when not empty
			}
		}
	}
	return removed, nil
}
