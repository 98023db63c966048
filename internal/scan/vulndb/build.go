package vulndb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/fsutil"
)

// Every change to the database is a build: under the database's lock, a
// copy of the current file is made beside it (or an empty one when there is
// none, or it is of another schema), sources are replaced in the copy, and
// the copy is synced and renamed over the database. A scan that opened the
// old file keeps reading it to its end (the kernel keeps the renamed-over
// file for whoever has it open); a scan opening later sees the new one; a
// crash or Ctrl-C leaves the old one untouched. Since nobody else can see
// the copy, it is written without fsyncs per transaction and synced once.

// buildPrefix names the copies under construction, so that one left by a
// crashed build is recognised and removed by the next.
const buildPrefix = ".vuln-build-"

type build struct {
	path    string // the database
	tmp     string // the copy being built
	db      *bolt.DB
	unlock  func()
	sources []Source
	log     *slog.Logger
	done    bool
}

// lockPath is held exclusively by every build of dbPath.
func lockPath(dbPath string) string { return dbPath + ".lock" }

// beginBuild takes the database's lock and prepares the copy. fresh starts
// from an empty database whatever the current one holds.
func beginBuild(ctx context.Context, dbPath string, fresh bool, log *slog.Logger) (*build, error) {
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return nil, fmt.Errorf("creating database directory: %w", err)
	}
	unlock, err := fsutil.LockContext(ctx, lockPath(dbPath))
	if err != nil {
		return nil, fmt.Errorf("locking vulnerability database: %w", err)
	}
	removeStaleBuilds(dbPath)
	return beginLocked(ctx, dbPath, "", fresh, log, unlock)
}

// beginLocked is beginBuild for a caller that holds the lock already;
// unlock is called when the build ends. A base file (a database pulled
// beside dbPath) becomes the copy instead of the current database.
func beginLocked(ctx context.Context, dbPath, base string, fresh bool, log *slog.Logger, unlock func()) (*build, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(dbPath)
	b := &build{path: dbPath, unlock: unlock, log: log}
	ok := false
	defer func() {
		if !ok {
			b.abort()
		}
	}()
	var f *os.File
	var err error
	if base != "" {
		b.tmp = base
		f, err = os.OpenFile(base, os.O_RDWR, 0)
	} else {
		f, err = os.CreateTemp(dir, buildPrefix+filepath.Base(dbPath)+"-")
		if f != nil {
			b.tmp = f.Name()
		}
	}
	if err != nil {
		return nil, err
	}
	if !fresh && base == "" {
		copied, err := copyIfCurrent(ctx, dbPath, f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if !copied {
			if err := f.Truncate(0); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	b.db, err = bolt.Open(b.tmp, 0o644, &bolt.Options{Timeout: time.Second, NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("creating vulnerability database: %w", err)
	}
	err = b.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketSources} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keySchema, []byte(schemaVersion)); err != nil {
			return err
		}
		b.sources, err = readSources(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating vulnerability database: %w", err)
	}
	ok = true
	return b, nil
}

// copyIfCurrent copies the database at path into dst when it exists and
// has this berth's schema; an older database is left to be replaced.
func copyIfCurrent(ctx context.Context, path string, dst *os.File) (bool, error) {
	db, err := Open(ctx, path)
	if errors.Is(err, ErrNoDatabase) || errors.Is(err, ErrSchema) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer db.Close()
	src, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer src.Close()
	// io.Copy between files uses copy_file_range: no pass through user
	// space, and a reflink where the file system has them.
	if _, err := io.Copy(dst, src); err != nil {
		return false, fmt.Errorf("copying the vulnerability database: %w", err)
	}
	return true, nil
}

// removeStaleBuilds deletes copies that crashed builds left behind: with
// the lock held, no build is running.
func removeStaleBuilds(dbPath string) {
	dir := filepath.Dir(dbPath)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := buildPrefix + filepath.Base(dbPath) + "-"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// source returns the current entry for name.
func (b *build) source(name string) (Source, bool) {
	for _, s := range b.sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// setSource records s as the newest source, replacing one of its name.
func (b *build) setSource(s Source) {
	out := b.sources[:0]
	for _, x := range b.sources {
		if x.Name != s.Name {
			out = append(out, x)
		}
	}
	b.sources = append(out, s)
}

// commit writes the sources, syncs the copy and renames it over the
// database. With no source left, the database is removed instead: "no
// database" stays the clear state.
func (b *build) commit() error {
	if b.done {
		return errors.New("build already finished")
	}
	raw, err := json.Marshal(b.sources)
	if err != nil {
		b.abort()
		return err
	}
	if err := b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySources, raw) }); err != nil {
		b.abort()
		return fmt.Errorf("writing vulnerability database: %w", err)
	}
	if err := b.db.Sync(); err != nil {
		b.abort()
		return fmt.Errorf("syncing vulnerability database: %w", err)
	}
	if err := b.db.Close(); err != nil {
		b.db = nil
		b.abort()
		return fmt.Errorf("writing vulnerability database: %w", err)
	}
	b.db = nil
	if len(b.sources) == 0 {
		b.abort()
		if err := os.Remove(b.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fsutil.SyncDir(filepath.Dir(b.path))
	}
	if err := os.Chmod(b.tmp, 0o644); err != nil {
		b.abort()
		return err
	}
	if err := os.Rename(b.tmp, b.path); err != nil {
		b.abort()
		return fmt.Errorf("replacing vulnerability database: %w", err)
	}
	b.done = true
	err = fsutil.SyncDir(filepath.Dir(b.path))
	b.unlock()
	return err
}

// abort discards the copy; the database stays as it was.
func (b *build) abort() {
	if b.done {
		return
	}
	b.done = true
	if b.db != nil {
		b.db.Close()
		b.db = nil
	}
	if b.tmp != "" {
		os.Remove(b.tmp)
	}
	b.unlock()
}

// copySources copies the sources keep accepts from the database file at
// path into the build, each replacing a source of its name.
func (b *build) copySources(path string, keep func(Source) bool) ([]Source, error) {
	from, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer from.Close()
	var copied []Source
	err = from.View(func(ftx *bolt.Tx) error {
		if err := checkSchema(ftx); err != nil {
			return err
		}
		sources, err := readSources(ftx)
		if err != nil {
			return err
		}
		for _, s := range sources {
			if !keep(s) {
				continue
			}
			fb := ftx.Bucket(bucketSources).Bucket([]byte(s.bucketName()))
			if fb == nil {
				continue
			}
			w, err := b.newSourceWriter(s, nil, b.log)
			if err != nil {
				return err
			}
			for _, name := range [][]byte{bucketRecords, bucketIndex, bucketSeverity} {
				if err := w.copyBucket(fb.Bucket(name), name); err != nil {
					w.discard()
					return err
				}
			}
			if err := w.finish(); err != nil {
				return err
			}
			copied = append(copied, w.src)
		}
		return nil
	})
	return copied, err
}
