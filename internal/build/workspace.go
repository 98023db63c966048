package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
)

// A build's temp files — contexts read from stdin or a URL, Git clones,
// ADD downloads, COPY --from and bind-mount unpacks, heredocs, secrets from
// the environment, RUN's sandbox state — all live in one directory per
// build, StateDir/tmp/build-<random>, which the build holds a lock on
// (build-<random>.lock, flocked for the build's life). Close removes it
// whatever the end (success, failure, Ctrl-C); a build killed with -9 leaves
// it unlocked, and the next build's OpenWorkspace or a Prune removes it.
//
//	tmp/
//	  build-<r>.lock   flocked by the live build (created locked: written as
//	                   .new-<r> and renamed once locked)
//	  build-<r>/       its files
const (
	wsPrefix = "build-"
	wsLock   = ".lock"
	wsNew    = ".new-"
	// legacyAge is how old an entry of another shape must be before a sweep
	// takes it: berth before one workspace per build left from-*, git-*,
	// add-*, heredoc-*, bind-* and build-* entries here.
	legacyAge = time.Hour
)

// Workspace is one build's temp directory and its hold on the build state.
type Workspace struct {
	dir         string
	unlock      func()
	unlockState func()
}

// OpenWorkspace starts a build under stateDir (Options.StateDir): it holds
// the state lock shared (Prune leaves the cache alone meanwhile), removes
// what dead builds left in stateDir/tmp and makes this build's directory.
func OpenWorkspace(stateDir string) (*Workspace, error) {
	tmpRoot := filepath.Join(stateDir, "tmp")
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return nil, err
	}
	unlockState, err := LockState(stateDir)
	if err != nil {
		return nil, err
	}
	sweepWorkspaces(tmpRoot, false)
	dir, unlock, err := newWorkspaceDir(tmpRoot)
	if err != nil {
		unlockState()
		return nil, err
	}
	return &Workspace{dir: dir, unlock: unlock, unlockState: unlockState}, nil
}

// Dir is the build's temp directory (Options.TempDir).
func (w *Workspace) Dir() string { return w.dir }

// Close removes the directory and releases the locks.
func (w *Workspace) Close() error {
	err := fsutil.RemoveAll(w.dir)
	os.Remove(w.dir + wsLock)
	w.unlock()
	w.unlockState()
	return err
}

// newWorkspaceDir makes tmpRoot/build-<r> with its lock held. The lock
// appears under its name only once locked, so a sweep never takes a live
// build's lock for a dead one's; a sweep may remove the .new- file before
// it is locked, and then the rename fails and we try again.
func newWorkspaceDir(tmpRoot string) (dir string, unlock func(), err error) {
	for attempt := 0; ; attempt++ {
		f, err := os.CreateTemp(tmpRoot, wsNew+"*")
		if err != nil {
			return "", nil, err
		}
		r := strings.TrimPrefix(filepath.Base(f.Name()), wsNew)
		f.Close()
		unlockNew, ok, err := fsutil.TryLock(f.Name())
		if err != nil || !ok {
			os.Remove(f.Name())
			if attempt == 4 {
				return "", nil, errors.Join(err, errors.New("cannot lock a build directory"))
			}
			continue
		}
		dir = filepath.Join(tmpRoot, wsPrefix+r)
		if err := os.Rename(f.Name(), dir+wsLock); err != nil {
			unlockNew()
			if !errors.Is(err, os.ErrNotExist) || attempt == 4 {
				return "", nil, err
			}
			continue
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			os.Remove(dir + wsLock)
			unlockNew()
			return "", nil, err
		}
		return dir, unlockNew, nil
	}
}

// sweepWorkspaces removes the directories of builds that died (their lock
// is free or gone) from tmpRoot. With all (Prune, which holds the state lock
// alone, so no build runs) it removes every entry.
func sweepWorkspaces(tmpRoot string, all bool) (freed int64) {
	ents, err := os.ReadDir(tmpRoot)
	if err != nil {
		return 0
	}
	remove := func(p string) {
		freed += fsutil.TreeSize(p)
		fsutil.RemoveAll(p)
	}
	for _, e := range ents {
		name, p := e.Name(), filepath.Join(tmpRoot, e.Name())
		switch {
		case all:
			remove(p)
		case strings.HasPrefix(name, wsPrefix) && strings.HasSuffix(name, wsLock):
			dir := strings.TrimSuffix(p, wsLock)
			unlock, ok, err := fsutil.TryLock(p)
			if err != nil || !ok {
				continue // a live build
			}
			remove(dir)
			os.Remove(p)
			unlock()
		case strings.HasPrefix(name, wsPrefix) && e.IsDir():
			if _, err := os.Lstat(p + wsLock); errors.Is(err, os.ErrNotExist) {
				remove(p) // its lock went first: its build is gone
			}
		case strings.HasPrefix(name, wsNew):
			unlock, ok, err := fsutil.TryLock(p)
			if err == nil && ok {
				os.Remove(p)
				unlock()
			}
		default:
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > legacyAge {
				remove(p)
			}
		}
	}
	return freed
}
