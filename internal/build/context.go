package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/dockerfile"
	"github.com/berth-dev/berth/internal/fsutil"
)

// contextFS is the build context directory as COPY and ADD see it: the
// files .dockerignore leaves, each hashed at most once. Digests are kept in a
// stat index (ROOT/build/index/<id>.json) and reused while a file's size,
// mtime and inode are unchanged.
type contextFS struct {
	dir    string
	ignore *dockerfile.Ignore

	once     sync.Once
	walkErr  error
	entries  map[string]*ctxEntry // rel path ("a/b") → entry
	paths    []string             // sorted rel paths
	excluded []string             // rel paths .dockerignore left out (a skipped directory once)

	mu      sync.Mutex
	index   map[string]indexEntry
	dirty   bool
	idxPath string
}

type ctxEntry struct {
	rel   string
	info  fs.FileInfo
	link  string
	ino   uint64
	mtime int64
	ctime int64

	mu     sync.Mutex
	digest string
}

// indexEntry is a file's digest with the stat fields that say it is still
// right. ctime is among them because nothing but the kernel sets it: a
// rewrite that keeps size and mtime (touch -d, a tool restoring times)
// still changes it.
type indexEntry struct {
	Size   int64  `json:"s"`
	Mtime  int64  `json:"m"`
	Ctime  int64  `json:"c"`
	Ino    uint64 `json:"i"`
	Digest string `json:"d"`
}

func newContextFS(dir string, ignore *dockerfile.Ignore, stateDir string) *contextFS {
	c := &contextFS{dir: dir, ignore: ignore}
	if stateDir != "" && dir != "" {
		abs, _ := filepath.Abs(dir)
		sum := sha256.Sum256([]byte(abs))
		c.idxPath = filepath.Join(stateDir, "index", hex.EncodeToString(sum[:16])+".json")
	}
	return c
}

func (c *contextFS) load() error {
	c.once.Do(func() {
		if c.dir == "" {
			c.walkErr = errors.New("no build context: the Dockerfile came with no context directory")
			return
		}
		c.index = map[string]indexEntry{}
		if c.idxPath != "" {
			if data, err := os.ReadFile(c.idxPath); err == nil {
				_ = json.Unmarshal(data, &c.index) // a damaged index is only a slower build
			}
		}
		c.entries = map[string]*ctxEntry{}
		c.walkErr = filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(c.dir, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if rel == "." {
				return nil
			}
			if c.ignore.Excluded(rel) {
				c.excluded = append(c.excluded, rel)
				if d.IsDir() && c.ignore.CanSkipDir(rel) {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			e := &ctxEntry{rel: rel, info: info}
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				e.ino = st.Ino
				e.mtime = st.Mtim.Nano()
				e.ctime = st.Ctim.Nano()
			}
			if info.Mode()&fs.ModeSymlink != 0 {
				if e.link, err = os.Readlink(p); err != nil {
					return err
				}
			}
			c.entries[rel] = e
			// An excluded parent with a re-included child: Docker keeps the
			// parent directories of every included path.
			for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
				if _, ok := c.entries[dir]; ok {
					break
				}
				if fi, err := os.Lstat(filepath.Join(c.dir, dir)); err == nil {
					c.entries[dir] = &ctxEntry{rel: dir, info: fi}
				}
			}
			return nil
		})
		if c.walkErr != nil {
			c.walkErr = fmt.Errorf("reading build context: %w", c.walkErr)
		}
		for p := range c.entries {
			c.paths = append(c.paths, p)
		}
		sort.Strings(c.paths)
	})
	return c.walkErr
}

// bindSource resolves a RUN --mount=type=bind source inside the context:
// every symlink on the way is followed as if the context were "/", so a
// link to "/" or to a host path never leads the mount out of it (as in
// BuildKit, where the source is looked up in the context's snapshot). It
// returns the resolved path relative to the context ("." for its root)
// and on the host; what .dockerignore leaves out is not there.
func (c *contextFS) bindSource(src string) (rel, host string, err error) {
	if err := c.load(); err != nil {
		return "", "", err
	}
	host, err = fsutil.ResolveInRoot(c.dir, src)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", "", fmt.Errorf("%s is not in the build context: %w", src, err)
	}
	realDir, err := filepath.EvalSymlinks(c.dir)
	if err != nil {
		return "", "", err
	}
	r, err := filepath.Rel(realDir, host)
	if err != nil {
		return "", "", err
	}
	rel = filepath.ToSlash(r)
	if _, ok := c.entries[rel]; rel != "." && !ok {
		return "", "", fmt.Errorf("%s is not in the build context (or .dockerignore leaves it out)", src)
	}
	return rel, host, nil
}

// excludesUnder reports whether .dockerignore left out anything at or
// under rel ("." for the whole context).
func (c *contextFS) excludesUnder(rel string) bool {
	for _, x := range c.excluded {
		if rel == "." || x == rel || strings.HasPrefix(x, rel+"/") {
			return true
		}
	}
	return false
}

// view builds at dst the context as a step may see it: rel and what the
// context holds under it, without what .dockerignore left out. Files are
// hard links where the file system allows (copies otherwise), so a view is
// cheap; it is bound read-only, or under a writable overlay for rw.
func (c *contextFS) view(dst, rel string) error {
	if err := c.load(); err != nil {
		return err
	}
	var ents []*ctxEntry
	if rel == "." {
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
		ents = c.under("")
	} else {
		e, ok := c.entries[rel]
		if !ok {
			return fmt.Errorf("%s is not in the build context (or .dockerignore leaves it out)", rel)
		}
		ents = append([]*ctxEntry{e}, c.under(rel)...)
	}
	prefix := rel + "/"
	for _, e := range ents {
		target := dst
		if e.rel != rel {
			target = filepath.Join(dst, filepath.FromSlash(strings.TrimPrefix(e.rel, prefix)))
		}
		src := filepath.Join(c.dir, filepath.FromSlash(e.rel))
		switch mode := e.info.Mode(); {
		case mode.IsDir():
			if err := os.MkdirAll(target, mode.Perm()|0o700); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			if err := os.Symlink(e.link, target); err != nil {
				return err
			}
		case mode.IsRegular():
			if err := os.Link(src, target); err != nil {
				if err := fsutil.CopyFile(src, target, mode.Perm()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// digestOf returns the content digest of a regular file (hashed once).
func (c *contextFS) digestOf(ctx context.Context, e *ctxEntry) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.digest != "" {
		return e.digest, nil
	}
	switch {
	case e.info.Mode().IsRegular():
	case e.info.Mode()&fs.ModeSymlink != 0:
		e.digest = "link:" + e.link
		return e.digest, nil
	default:
		e.digest = "-"
		return e.digest, nil
	}
	c.mu.Lock()
	ie, ok := c.index[e.rel]
	c.mu.Unlock()
	if ok && ie.Size == e.info.Size() && ie.Mtime == e.mtime && ie.Ctime == e.ctime && ie.Ino == e.ino {
		e.digest = ie.Digest
		return e.digest, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	f, err := os.Open(filepath.Join(c.dir, filepath.FromSlash(e.rel)))
	if err != nil {
		return "", fmt.Errorf("reading build context: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading build context %s: %w", e.rel, err)
	}
	e.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	c.mu.Lock()
	c.index[e.rel] = indexEntry{Size: e.info.Size(), Mtime: e.mtime, Ctime: e.ctime, Ino: e.ino, Digest: e.digest}
	c.dirty = true
	c.mu.Unlock()
	return e.digest, nil
}

// save writes the stat index back when it changed.
func (c *contextFS) save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty || c.idxPath == "" {
		return nil
	}
	// Forget files that are gone so the index does not grow forever.
	for k := range c.index {
		if _, ok := c.entries[k]; !ok {
			delete(c.index, k)
		}
	}
	data, err := json.Marshal(c.index)
	if err != nil {
		return err
	}
	c.dirty = false
	return writeFileAtomic(c.idxPath, data)
}

// hasMeta reports whether a COPY source is a pattern.
func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[\\") }

// match resolves one COPY/ADD source (relative to the context root) to the
// entries it names: the paths themselves (a pattern may name several).
func (c *contextFS) match(src string) ([]*ctxEntry, error) {
	if err := c.load(); err != nil {
		return nil, err
	}
	clean := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(src)), "/")
	if clean == "" {
		return []*ctxEntry{{rel: "", info: rootInfo{}}}, nil
	}
	if !hasMeta(clean) {
		e, ok := c.entries[clean]
		if !ok {
			// A parent may be a symlink (COPY --from=build /lib/x with
			// /lib → usr/lib): follow it inside the source.
			e, ok = c.entries[c.resolveParents(clean)]
		}
		if !ok {
			return nil, fmt.Errorf("%q: not found", "/"+clean)
		}
		return []*ctxEntry{e}, nil
	}
	var out []*ctxEntry
	depth := strings.Count(clean, "/")
	for _, p := range c.paths {
		if strings.Count(p, "/") != depth {
			continue
		}
		if ok, err := path.Match(clean, p); err != nil {
			return nil, fmt.Errorf("bad pattern %q: %w", src, err)
		} else if ok {
			out = append(out, c.entries[p])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lstat %s: no source files were specified", src)
	}
	return out, nil
}

// under returns the entries below dir ("" = everything), sorted.
func (c *contextFS) under(dir string) []*ctxEntry {
	var out []*ctxEntry
	if dir == "" {
		for _, p := range c.paths {
			out = append(out, c.entries[p])
		}
		return out
	}
	prefix := dir + "/"
	i := sort.SearchStrings(c.paths, prefix)
	for ; i < len(c.paths) && strings.HasPrefix(c.paths[i], prefix); i++ {
		out = append(out, c.entries[c.paths[i]])
	}
	return out
}

func (c *contextFS) abs(rel string) string {
	return filepath.Join(c.dir, filepath.FromSlash(rel))
}

// rootInfo stands for the context root directory itself ("COPY . /app").
type rootInfo struct{}

func (rootInfo) Name() string           { return "." }
func (rootInfo) Size() int64            { return 0 }
func (rootInfo) Mode() fs.FileMode      { return fs.ModeDir | 0o755 }
func (rootInfo) ModTime() (t time.Time) { return }
func (rootInfo) IsDir() bool            { return true }
func (rootInfo) Sys() any               { return nil }

// writeFileAtomic writes data to p durably (fsutil: temp file, fsync,
// rename, fsync dir), creating the directory first.
func writeFileAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(p, data, 0o644)
}

// follow resolves a symlink named as a COPY source to what it points at
// inside the context, as Docker does for sources (not for entries found
// inside a copied directory). It returns e itself when e is not a link or
// the link leaves the context or dangles.
func (c *contextFS) follow(e *ctxEntry) *ctxEntry {
	cur := e
	for i := 0; i < 16 && cur.info.Mode()&fs.ModeSymlink != 0; i++ {
		target := cur.link
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(cur.rel), target)
		}
		target = strings.TrimPrefix(path.Clean("/"+target), "/")
		next, ok := c.entries[target]
		if !ok {
			return e
		}
		cur = next
	}
	return cur
}

// resolveParents follows symlinked directories among p's parents, inside
// the source (never outside it).
func (c *contextFS) resolveParents(p string) string {
	parts := strings.Split(p, "/")
	out := ""
	for i, hops := 0, 0; i < len(parts)-1; i++ {
		cand := strings.TrimPrefix(out+"/"+parts[i], "/")
		if e, ok := c.entries[cand]; ok && e.info.Mode()&fs.ModeSymlink != 0 && hops < 40 {
			base := out
			if path.IsAbs(e.link) {
				base = ""
			}
			next := strings.TrimPrefix(path.Clean("/"+base+"/"+e.link), "/")
			var rest []string
			if next != "" {
				rest = strings.Split(next, "/")
			}
			parts = append(rest, parts[i+1:]...)
			out, i = "", -1
			hops++
			continue
		}
		out = cand
	}
	return strings.TrimPrefix(out+"/"+parts[len(parts)-1], "/")
}
