package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// FS is the filesystem Driver. Each key is a file under the root; a Put
// writes a temporary file in the destination directory, fsyncs it, renames it
// over the key and fsyncs the directory, so a crash leaves the old object or
// the new one. Names beginning with "." are the driver's own (temporary files
// and lock files): keys can never spell them and List skips them.
//
// Conditional Puts hold an exclusive flock on ".<name>.lock" next to the
// object while they compare the ETag and rename, which excludes other
// goroutines and other processes (a `berth registry gc` next to a server).
//
// Nothing outlives its object: Delete removes the object's lock file and the
// directories it leaves empty (an upload session's directory), and Sweep
// removes what a killed writer left. A lock file may thus vanish while
// another writer waits on it, so flock checks after locking that the path
// still names the file it locked, and Puts recreate a directory removed
// under them.
type FS struct {
	root string
}

// NewFS returns a driver rooted at dir, creating it if needed.
func NewFS(dir string) (*FS, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving storage root %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating storage root: %w", err)
	}
	return &FS{root: abs}, nil
}

// Root returns the directory the driver stores objects in.
func (d *FS) Root() string { return d.root }

// ValidKey reports whether key is a clean relative path the drivers accept.
func ValidKey(key string) bool {
	if key == "" || len(key) > 1024 {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg[0] == '.' || seg[0] == '-' {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (d *FS) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return d.root + "/" + key, nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return ErrNotFound
	}
	return err
}

func infoOf(key string, fi fs.FileInfo) Info {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return Info{
		Key:     key,
		Size:    fi.Size(),
		ModTime: fi.ModTime(),
		// A Put renames a new file over the key, so the inode changes on every
		// replacement even when size and mtime happen to match.
		ETag: fmt.Sprintf("%x-%x-%x", ino, fi.Size(), fi.ModTime().UnixNano()),
	}
}

// Stat implements Driver.
func (d *FS) Stat(_ context.Context, key string) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return Info{}, notFound(err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, ErrNotFound
	}
	return infoOf(key, fi), nil
}

// Open implements Driver; the Reader is an *os.File.
func (d *FS) Open(_ context.Context, key string) (Reader, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(err)
	}
	return f, nil
}

// Get implements Getter: the ETag comes from the open file, so it is the
// ETag of exactly the bytes read even when a Put renames a new file over
// the key meanwhile.
func (d *FS) Get(_ context.Context, key string, limit int64) ([]byte, Info, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, Info{}, notFound(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, Info{}, ErrNotFound
	}
	if fi.Size() > limit {
		return nil, Info{}, fmt.Errorf("object %s exceeds %d bytes", key, limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, Info{}, err
	}
	if int64(len(data)) > limit {
		return nil, Info{}, fmt.Errorf("object %s exceeds %d bytes", key, limit)
	}
	return data, infoOf(key, fi), nil
}

// Put implements Driver.
func (d *FS) Put(ctx context.Context, key string, r io.Reader, c Cond) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	dir := filepath.Dir(p)
	if err := d.mkdirAll(dir); err != nil {
		return Info{}, err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	for attempt := 0; errors.Is(err, fs.ErrNotExist) && attempt < 8; attempt++ {
		// A Delete of the directory's last object removed it meanwhile.
		if err := d.mkdirAll(dir); err != nil {
			return Info{}, err
		}
		tmp, err = os.CreateTemp(dir, ".tmp-*")
	}
	if err != nil {
		return Info{}, fmt.Errorf("creating temporary file: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(&writeBehind{f: tmp}, ctxReader{ctx, r}); err != nil {
		return Info{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, fmt.Errorf("syncing %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, fmt.Errorf("closing %s: %w", key, err)
	}
	if c.IfNoneMatch || c.IfMatch != "" {
		unlock, err := flock(lockPath(p), true)
		if err != nil {
			return Info{}, err
		}
		defer unlock()
		cur, err := d.Stat(ctx, key)
		switch {
		case err != nil && !errors.Is(err, ErrNotFound):
			return Info{}, err
		case c.IfNoneMatch && err == nil:
			return Info{}, ErrPrecondition
		case c.IfMatch != "" && (err != nil || cur.ETag != c.IfMatch):
			return Info{}, ErrPrecondition
		}
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return Info{}, fmt.Errorf("storing %s: %w", key, err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return Info{}, err
	}
	return d.Stat(ctx, key)
}

// Delete implements Driver. The object's lock file goes with it, and so
// do the directories it leaves empty.
func (d *FS) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return notFound(err)
	}
	if _, err := dropLock(p, false); err != nil {
		return err
	}
	return d.syncExisting(d.pruneDirs(filepath.Dir(p)))
}

// lockPath is the lock file conditional Puts of the object at p hold.
func lockPath(p string) string { return filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".lock") }

// dropLock removes the lock file of the object at p when the object is
// gone, holding the lock while it does so that no conditional Put is between
// its check and its rename. It reports whether there was one to remove; with
// dryRun it only looks.
func dropLock(p string, dryRun bool) (bool, error) {
	lp := lockPath(p)
	f, err := os.OpenFile(lp, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening lock: %w", err)
	}
	defer f.Close()
	if err := flockFD(f, unix.LOCK_EX); err != nil {
		return false, fmt.Errorf("locking %s: %w", lp, err)
	}
	if !sameFile(f, lp) {
		return false, nil // someone else removed (and maybe recreated) it
	}
	if _, err := os.Lstat(p); err == nil {
		return false, nil // a Put recreated the object meanwhile
	}
	if !dryRun {
		if err := os.Remove(lp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return true, nil
}

// syncExisting fsyncs dir or, when another Delete pruned it meanwhile, the
// first ancestor still there.
func (d *FS) syncExisting(dir string) error {
	for {
		err := syncDir(dir)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || len(dir) <= len(d.root) {
			return err
		}
		dir = filepath.Dir(dir)
	}
}

// pruneDirs removes dir and its parents while they are empty, stopping
// below the root's own subdirectories, and returns the deepest directory
// left, the one whose entries changed.
func (d *FS) pruneDirs(dir string) string {
	for filepath.Dir(dir) != d.root && len(dir) > len(d.root) {
		if os.Remove(dir) != nil {
			return dir
		}
		dir = filepath.Dir(dir)
	}
	return dir
}

// walk calls fn for every file and directory below the deepest directory
// prefix names (start), as WalkDir does; what vanishes meanwhile is
// skipped, and ctx stops it.
func (d *FS) walk(ctx context.Context, prefix string, fn func(p, start string, de fs.DirEntry) error) error {
	start := d.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(d.root, prefix[:i])
	}
	return filepath.WalkDir(start, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fn(p, start, de)
	})
}

// List implements Driver.
func (d *FS) List(ctx context.Context, prefix string, fn func(Info) error) error {
	err := d.walk(ctx, prefix, func(p, start string, de fs.DirEntry) error {
		name := de.Name()
		if strings.HasPrefix(name, ".") && p != start {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if de.IsDir() {
			return nil
		}
		key := strings.TrimPrefix(p, d.root+"/")
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return nil // removed while walking
		}
		return fn(infoOf(key, fi))
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listing %s: %w", prefix, err)
	}
	return nil
}

// Lock implements Locker with flock on ROOT/.locks/NAME.
func (d *FS) Lock(_ context.Context, name string, exclusive bool) (func(), error) {
	if !ValidKey(name) || strings.Contains(name, "/") {
		return nil, fmt.Errorf("%w: lock %q", ErrInvalidKey, name)
	}
	dir := filepath.Join(d.root, ".locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return flock(filepath.Join(dir, name), exclusive)
}

// mkdirAll creates dir and its missing parents, fsyncing each parent so that
// a new directory entry survives a crash like the file put in it.
// A Delete may prune the parent between the two steps: then it starts again.
func (d *FS) mkdirAll(dir string) error {
	for attempt := 0; ; attempt++ {
		if _, err := os.Stat(dir); err == nil {
			return nil
		}
		parent := filepath.Dir(dir)
		if parent != dir && len(parent) >= len(d.root) {
			if err := d.mkdirAll(parent); err != nil {
				return err
			}
		}
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, fs.ErrNotExist) && attempt < 8 {
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating directory: %w", err)
		}
		return syncDir(parent)
	}
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	return nil
}

// flock opens path (creating it) and locks it. Each call opens its own file
// description, so the lock also excludes other goroutines of this process.
// Lock files are removed with their objects (dropLock, under the lock): one
// locked after its removal protects nothing, so flock starts again when
// path no longer names the file it locked.
func flock(path string, exclusive bool) (func(), error) {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("opening lock: %w", err)
		}
		if err := flockFD(f, how); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !sameFile(f, path) {
			f.Close()
			continue
		}
		return func() {
			_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		}, nil
	}
}

func flockFD(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// sameFile reports whether path still names the open file f.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// ctxReader stops a long copy when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Move implements Mover with rename(2); both directories are fsynced.
func (d *FS) Move(_ context.Context, src, dst string) error {
	ps, err := d.path(src)
	if err != nil {
		return err
	}
	pd, err := d.path(dst)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		if err := d.mkdirAll(filepath.Dir(pd)); err != nil {
			return err
		}
		err := os.Rename(ps, pd)
		if err == nil {
			break
		}
		if _, serr := os.Lstat(ps); serr != nil || attempt == 8 {
			return notFound(err)
		}
		// The source is there: a Delete pruned the destination's
		// directory between mkdirAll and the rename.
	}
	if err := syncDir(filepath.Dir(pd)); err != nil {
		return err
	}
	if filepath.Dir(ps) != filepath.Dir(pd) {
		return d.syncExisting(d.pruneDirs(filepath.Dir(ps)))
	}
	return nil
}

// writeBehind starts writeback of every 8 MiB written (sync_file_range
// without waiting), so that the fsync that makes a large blob durable finds
// little left to write instead of the whole file.
type writeBehind struct {
	f       *os.File
	off     int64
	started int64
}

const writeBehindChunk = 8 << 20

func (w *writeBehind) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.started >= writeBehindChunk {
		// Advisory: an error here only loses the head start.
		_ = unix.SyncFileRange(int(w.f.Fd()), w.started, w.off-w.started, unix.SYNC_FILE_RANGE_WRITE)
		w.started = w.off
	}
	return n, err
}
