package scan

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// memFS is the read-only view extractors get through ScanInput.FS: the small
// context files (os-release) of all layers so far and the files retained
// from the layer being scanned. It implements osv-scalibr's fs.FS (Open,
// ReadDir, Stat) and opened files implement io.ReaderAt as it requires.
type memFS struct {
	nodes map[string]*memNode
}

type memNode struct {
	dir    bool
	link   string // symlink target, as written in the tar
	data   io.ReaderAt
	size   int64
	mode   fs.FileMode
	mtime  time.Time
	remove func() // releases a spooled temporary file
}

func newMemFS() *memFS { return &memFS{nodes: map[string]*memNode{".": {dir: true}}} }

func (m *memFS) addDirs(p string) {
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if n, ok := m.nodes[d]; ok && n.dir {
			return
		}
		m.nodes[d] = &memNode{dir: true, mode: fs.ModeDir | 0o755}
	}
}

func (m *memFS) putFile(p string, data []byte, mode fs.FileMode) {
	m.addDirs(p)
	m.nodes[p] = &memNode{data: bytes.NewReader(data), size: int64(len(data)), mode: mode}
}

func (m *memFS) putLink(p, target string) {
	m.addDirs(p)
	m.nodes[p] = &memNode{link: target, mode: fs.ModeSymlink | 0o777}
}

func (m *memFS) putDir(p string) {
	m.addDirs(p)
	m.nodes[p] = &memNode{dir: true, mode: fs.ModeDir | 0o755}
}

// remove applies a whiteout: p and everything under it disappear.
func (m *memFS) remove(p string) {
	delete(m.nodes, p)
	prefix := p + "/"
	for k := range m.nodes {
		if strings.HasPrefix(k, prefix) {
			delete(m.nodes, k)
		}
	}
}

// resolve follows symlinks (at most 40, as Linux) within the view; absolute
// targets are taken relative to the image root, never the host's.
func (m *memFS) resolve(name string) (string, *memNode, error) {
	p := name
	for hops := 0; hops < 40; hops++ {
		n, ok := m.nodes[p]
		if !ok {
			// A parent may be a symlink.
			resolved, changed := m.resolveParent(p)
			if !changed {
				return "", nil, fs.ErrNotExist
			}
			p = resolved
			continue
		}
		if n.link == "" {
			return p, n, nil
		}
		t := n.link
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(p), t)
		}
		p = cleanRel(t)
	}
	return "", nil, errors.New("too many levels of symbolic links")
}

func (m *memFS) resolveParent(p string) (string, bool) {
	parts := strings.Split(p, "/")
	for i := len(parts) - 1; i > 0; i-- {
		parent := strings.Join(parts[:i], "/")
		if n, ok := m.nodes[parent]; ok && n.link != "" {
			t := n.link
			if !path.IsAbs(t) {
				t = path.Join(path.Dir(parent), t)
			}
			return cleanRel(path.Join(t, strings.Join(parts[i:], "/"))), true
		}
	}
	return p, false
}

// cleanRel makes an image path relative to the image root; ".." cannot climb
// above it.
func cleanRel(p string) string {
	p = path.Clean("/" + p)
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "."
	}
	return p
}

func (m *memFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	p, n, err := m.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f := &memFile{name: path.Base(p), node: n}
	if !n.dir {
		f.r = io.NewSectionReader(n.data, 0, n.size)
	} else {
		f.fsys, f.path = m, p
	}
	return f, nil
}

func (m *memFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	p, n, err := m.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return memInfo{name: path.Base(p), node: n}, nil
}

func (m *memFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, n, err := m.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	prefix := p + "/"
	if p == "." {
		prefix = ""
	}
	var out []fs.DirEntry
	for k, c := range m.nodes {
		if k == "." || !strings.HasPrefix(k, prefix) || strings.Contains(k[len(prefix):], "/") {
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(memInfo{name: k[len(prefix):], node: c}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

type memFile struct {
	name string
	node *memNode
	r    *io.SectionReader
	fsys *memFS
	path string
}

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{name: f.name, node: f.node}, nil }
func (f *memFile) Close() error               { return nil }

func (f *memFile) Read(p []byte) (int, error) {
	if f.r == nil {
		return 0, errors.New("is a directory")
	}
	return f.r.Read(p)
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.r == nil {
		return 0, errors.New("is a directory")
	}
	return f.r.ReadAt(p, off)
}

func (f *memFile) Seek(off int64, whence int) (int64, error) {
	if f.r == nil {
		return 0, errors.New("is a directory")
	}
	return f.r.Seek(off, whence)
}

func (f *memFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if f.fsys == nil {
		return nil, errors.New("not a directory")
	}
	return f.fsys.ReadDir(f.path)
}

type memInfo struct {
	name string
	node *memNode
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.node.size }
func (i memInfo) Mode() fs.FileMode  { return i.node.mode }
func (i memInfo) ModTime() time.Time { return i.node.mtime }
func (i memInfo) IsDir() bool        { return i.node.dir }
func (i memInfo) Sys() any           { return nil }
