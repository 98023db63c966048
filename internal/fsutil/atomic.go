package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// AtomicFile is a file that becomes visible at its final path only when
// Commit succeeds; until then it lives as a temp file in the same directory,
// so the final rename never crosses a file system.
type AtomicFile struct {
	*os.File
	path string
	done bool
}

// CreateAtomic starts an atomic write of path. The caller must call Commit or
// Abort.
func CreateAtomic(path string) (*AtomicFile, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return nil, err
	}
	return &AtomicFile{File: f, path: path}, nil
}

// Commit flushes the data to disk, renames the temp file over the final path
// and syncs the directory so the rename itself survives a crash.
func (f *AtomicFile) Commit() error {
	if f.done {
		return errors.New("atomic file already finished")
	}
	f.done = true
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(f.File.Name())
		return fmt.Errorf("syncing %s: %w", f.path, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(f.File.Name())
		return err
	}
	if err := os.Rename(f.File.Name(), f.path); err != nil {
		os.Remove(f.File.Name())
		return err
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort discards the temp file. It is safe to call after Commit.
func (f *AtomicFile) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}

// WriteFileAtomic writes data to path atomically and durably.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Abort()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// SyncDir fsyncs a directory so that entries created or renamed in it are
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
