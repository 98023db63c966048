package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargoauditable"
)

const (
	// maxFileSize bounds any one file handed to an extractor: a package
	// database or binary larger than this is hostile or absurd.
	maxFileSize = 1 << 30
	// memFileSize is the largest file kept in memory; larger ones are spooled
	// to a private temporary file.
	memFileSize = 16 << 20
	// maxContextSize bounds os-release and the like.
	maxContextSize = 64 << 10
)

// goBuildInfoMagic starts the build information the Go linker writes into
// every binary; executables without it are not handed to the Go extractor.
var goBuildInfoMagic = []byte("\xff Go buildinf:")

// binaryMarkers are, per extractor that reads executables, strings one of
// which an executable it can read contains: the Go linker's build info;
// the name of the section cargo-auditable embeds a Rust binary's
// dependency list in (.dep-v0, older tools' .rust-deps-v0 and rdep-v0).
// Executables with none are not kept for those extractors, so an image's
// hundreds of C binaries cost one read each, not a copy.
var binaryMarkers = map[string][][]byte{
	gobinary.Name:       {goBuildInfoMagic},
	cargoauditable.Name: {[]byte("dep-v0"), []byte("deps-v0")},
}

// contextPaths are read by extractors through ScanInput.FS rather than being
// extracted themselves: they say which distribution release a layer is.
var contextPaths = map[string]bool{"etc/os-release": true, "usr/lib/os-release": true}

// entry is one object of a layer tar or of a directory walk.
type entry struct {
	path string // relative to the root, cleaned
	kind byte   // tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink
	link string // symlink target, or hard link target path
	info fs.FileInfo
	open func() (io.Reader, error)
}

// walkFunc yields the entries of a layer in order, and whiteouts as
// entries whose base name starts with ".wh.".
type walkFunc func(yield func(entry) error) error

// tarWalk reads a layer tar stream. Entry names are untrusted: they are
// cleaned relative to the image root and entries trying to climb out of it
// are reported and skipped. Nothing is written to disk by name.
func tarWalk(r io.Reader, warn func(string, ...any)) walkFunc {
	return func(yield func(entry) error) error {
		tr := tar.NewReader(r)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading layer tar: %w", err)
			}
			p, ok := safeRel(hdr.Name)
			if !ok {
				if p != "." {
					warn("skipping layer entry escaping the root", "path", hdr.Name)
				}
				continue // "./" is the root itself
			}
			if isSparse(hdr) {
				// Real layers have no sparse files; a sparse entry can claim
				// a gigabyte of zeros for a few bytes of input.
				warn("skipping sparse layer entry", "path", hdr.Name)
				continue
			}
			e := entry{path: p, info: hdr.FileInfo()}
			switch hdr.Typeflag {
			case tar.TypeReg: // archive/tar reports old-style '\x00' entries as TypeReg
				e.kind = tar.TypeReg
				e.open = func() (io.Reader, error) { return tr, nil }
			case tar.TypeDir:
				e.kind = tar.TypeDir
			case tar.TypeSymlink:
				e.kind, e.link = tar.TypeSymlink, hdr.Linkname
			case tar.TypeLink:
				lp, ok := safeRel(hdr.Linkname)
				if !ok {
					warn("skipping hard link escaping the root", "path", hdr.Name, "target", hdr.Linkname)
					continue
				}
				e.kind, e.link = tar.TypeLink, lp
			default:
				continue
			}
			if err := yield(e); err != nil {
				return err
			}
		}
	}
}

func isSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// executableMagics start the executable formats Go produces: ELF, PE,
// Mach-O (both byte orders, 32 and 64 bit).
var executableMagics = [][]byte{
	[]byte("\x7fELF"), []byte("MZ"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf}, {0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
}

func isExecutable(head []byte) bool {
	for _, m := range executableMagics {
		if bytes.HasPrefix(head, m) {
			return true
		}
	}
	return false
}

// safeRel cleans a tar entry name to a path relative to the root and rejects
// names with ".." elements, which no well-formed layer has.
func safeRel(name string) (string, bool) {
	name = strings.TrimPrefix(filepath.ToSlash(name), "./")
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", false
		}
	}
	p := cleanRel(name)
	return p, p != "." // the root entry carries nothing to scan
}

// dirWalk walks a root filesystem directory without following symlinks.
func dirWalk(ctx context.Context, root string) walkFunc {
	return func(yield func(entry) error) error {
		return filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
			if err != nil {
				if full == root {
					return err
				}
				return nil // unreadable subtrees are skipped, as scalibr does
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, full)
			rel = filepath.ToSlash(rel)
			if rel == "." {
				return nil
			}
			if root == "/" && d.IsDir() && (rel == "proc" || rel == "sys" || rel == "dev") {
				return filepath.SkipDir
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			e := entry{path: rel, info: info}
			switch {
			case d.IsDir():
				e.kind = tar.TypeDir
			case d.Type()&fs.ModeSymlink != 0:
				t, err := os.Readlink(full)
				if err != nil {
					return nil
				}
				e.kind, e.link = tar.TypeSymlink, t
			case d.Type().IsRegular():
				e.kind = tar.TypeReg
				var f *os.File
				e.open = func() (io.Reader, error) {
					var err error
					f, err = os.Open(full)
					return f, err
				}
				err := yield(e)
				if f != nil {
					f.Close()
				}
				return err
			default:
				return nil
			}
			return yield(e)
		})
	}
}

// layerRecord is what one layer contributes; it is what the cache stores.
type layerRecord struct {
	Packages  []cachedPackage   `json:"packages,omitempty"`
	Paths     []string          `json:"paths,omitempty"`     // files an extractor looked at
	Whiteouts []string          `json:"whiteouts,omitempty"` // paths this layer deletes
	Opaque    []string          `json:"opaque,omitempty"`    // directories this layer empties
	Context   map[string][]byte `json:"context,omitempty"`   // os-release and the like
	Links     map[string]string `json:"links,omitempty"`     // symlinks among the context paths
	Dirs      []string          `json:"dirs,omitempty"`      // shallow directories present
	Warnings  []string          `json:"warnings,omitempty"`
}

type retained struct {
	path string
	node *memNode
	exs  []filesystem.Extractor
}

// layerScanner reads one layer and runs the extractors on what it retained.
type layerScanner struct {
	exs     []filesystem.Extractor
	log     *slog.Logger
	tempDir string
	rec     *layerRecord
	files   []*retained
	byPath  map[string]*retained
	spooled int
}

func (s *layerScanner) warn(msg string, args ...any) {
	s.log.Warn(msg, args...)
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(args); i += 2 {
		fmt.Fprintf(&b, " %v=%v", args[i], args[i+1])
	}
	s.rec.Warnings = append(s.rec.Warnings, b.String())
}

// scanLayer reads one layer through walk and extracts its packages. lower is
// the context (os-release, directories) of the layers below; it is not
// modified.
func scanLayer(ctx context.Context, walk walkFunc, lower *memFS, exs []filesystem.Extractor, log *slog.Logger, tempDir string) (*layerRecord, error) {
	s, err := readLayer(ctx, walk, exs, log, tempDir)
	if err != nil {
		return nil, err
	}
	return s.extractAll(ctx, lower)
}

// readLayer walks a layer and retains what the extractors will need. It
// needs nothing from other layers, so layers can be read concurrently; the
// caller must call extractAll (or release) on the result.
func readLayer(ctx context.Context, walk walkFunc, exs []filesystem.Extractor, log *slog.Logger, tempDir string) (*layerScanner, error) {
	s := &layerScanner{exs: exs, log: log, tempDir: tempDir, rec: &layerRecord{Context: map[string][]byte{}, Links: map[string]string{}}, byPath: map[string]*retained{}}
	dirs := map[string]bool{}
	err := walk(func(e entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		base := path.Base(e.path)
		if strings.HasPrefix(base, ".wh.") {
			if base == ".wh..wh..opq" {
				s.rec.Opaque = append(s.rec.Opaque, path.Dir(e.path))
			} else {
				s.rec.Whiteouts = append(s.rec.Whiteouts, cleanRel(path.Join(path.Dir(e.path), base[4:])))
			}
			return nil
		}
		if d := shallowDir(e); d != "" {
			dirs[d] = true
		}
		switch e.kind {
		case tar.TypeSymlink:
			if contextPaths[e.path] {
				s.rec.Links[e.path] = e.link
			}
		case tar.TypeLink:
			if t, ok := s.byPath[e.link]; ok {
				s.add(e.path, t.node, s.required(e.path, t.node))
			}
		case tar.TypeReg:
			return s.regular(e)
		}
		return nil
	})
	if err != nil {
		s.release()
		return nil, err
	}
	for d := range dirs {
		s.rec.Dirs = append(s.rec.Dirs, d)
	}
	sort.Strings(s.rec.Dirs)
	return s, nil
}

// extractAll runs the extractors on the retained files, seeing the layers
// below through lower, and releases the retained files.
func (s *layerScanner) extractAll(ctx context.Context, lower *memFS) (*layerRecord, error) {
	defer s.release()
	fsys := viewFor(lower, s.rec)
	for _, r := range s.files {
		fsys.nodes[r.path] = r.node
		fsys.addDirs(r.path)
	}
	for _, r := range s.files {
		if len(r.exs) == 0 {
			continue
		}
		s.rec.Paths = append(s.rec.Paths, r.path)
		for _, ex := range r.exs {
			s.extract(ctx, fsys, r, ex)
		}
	}
	return s.rec, ctx.Err()
}

func shallowDir(e entry) string {
	p := e.path
	if e.kind != tar.TypeDir {
		p = path.Dir(p)
	}
	parts := strings.SplitN(p, "/", 3)
	if p == "." {
		return ""
	}
	if len(parts) > 2 {
		return parts[0] + "/" + parts[1]
	}
	return p
}

type fileAPI struct {
	path string
	info fs.FileInfo
}

func (f fileAPI) Path() string               { return f.path }
func (f fileAPI) Stat() (fs.FileInfo, error) { return f.info, nil }

func (s *layerScanner) required(p string, n *memNode) []filesystem.Extractor {
	api := fileAPI{p, memInfo{name: path.Base(p), node: n}}
	var out []filesystem.Extractor
	for _, ex := range s.exs {
		if ex.FileRequired(api) {
			out = append(out, ex)
		}
	}
	return out
}

func (s *layerScanner) regular(e entry) error {
	api := fileAPI{e.path, e.info}
	var exs []filesystem.Extractor
	for _, ex := range s.exs {
		if ex.FileRequired(api) {
			exs = append(exs, ex)
		}
	}
	isContext := contextPaths[e.path]
	if len(exs) == 0 && !isContext {
		return nil
	}
	size := e.info.Size()
	if size > maxFileSize {
		s.warn("skipping oversized file", "path", e.path, "bytes", size)
		return nil
	}
	r, err := e.open()
	if err != nil {
		s.warn("skipping unreadable file", "path", e.path, "err", err)
		return nil
	}
	binaryOnly := len(exs) > 0 && !isContext
	for _, ex := range exs {
		binaryOnly = binaryOnly && binaryMarkers[ex.Name()] != nil
	}
	if binaryOnly {
		// Most executable-bit files are scripts or ELF files of other
		// languages: look at four bytes before reading the rest.
		head := make([]byte, 4)
		n, _ := io.ReadFull(r, head)
		if !isExecutable(head[:n]) {
			s.rec.Paths = append(s.rec.Paths, e.path) // it still shadows a lower Go binary
			return nil
		}
		r = io.MultiReader(bytes.NewReader(head[:n]), r)
	}
	node, err := s.spool(r, size)
	if err != nil {
		return err
	}
	node.mode, node.mtime = e.info.Mode(), e.info.ModTime()
	if isContext && size <= maxContextSize {
		buf := make([]byte, size)
		if _, err := node.data.ReadAt(buf, 0); err == nil || errors.Is(err, io.EOF) {
			s.rec.Context[e.path] = buf
		}
	}
	// An executable is a Go binary only if the linker's build info is in
	// it, a Rust binary with its dependencies only if the section is.
	if binaryOnly {
		kept := exs[:0]
		for _, ex := range exs {
			for _, m := range binaryMarkers[ex.Name()] {
				if containsAt(node.data, node.size, m) {
					kept = append(kept, ex)
					break
				}
			}
		}
		if exs = kept; len(exs) == 0 {
			s.rec.Paths = append(s.rec.Paths, e.path) // it still shadows a lower binary
			if node.remove != nil {
				node.remove()
			}
			return nil
		}
	}
	s.add(e.path, node, exs)
	return nil
}

func (s *layerScanner) add(p string, node *memNode, exs []filesystem.Extractor) {
	r := &retained{path: p, node: node, exs: exs}
	if old, ok := s.byPath[p]; ok {
		old.exs = nil // a later entry of the same layer wins
	}
	s.byPath[p] = r
	s.files = append(s.files, r)
}

func (s *layerScanner) spool(r io.Reader, size int64) (*memNode, error) {
	if size <= memFileSize {
		buf := make([]byte, size)
		n, err := io.ReadFull(r, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("reading layer file: %w", err)
		}
		return &memNode{data: bytes.NewReader(buf[:n]), size: int64(n)}, nil
	}
	s.spooled++
	f, err := os.Create(filepath.Join(s.tempDir, fmt.Sprintf("f%d", s.spooled)))
	if err != nil {
		return nil, fmt.Errorf("spooling layer file: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, size))
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("spooling layer file: %w", err)
	}
	name := f.Name()
	return &memNode{data: f, size: n, remove: func() { f.Close(); os.Remove(name) }}, nil
}

func (s *layerScanner) release() {
	for _, r := range s.files {
		if r.node.remove != nil {
			r.node.remove()
			r.node.remove = nil
		}
	}
}

// containsAt reports whether magic occurs in the first size bytes of r.
func containsAt(r io.ReaderAt, size int64, magic []byte) bool {
	const chunk = 1 << 20
	buf := make([]byte, chunk+len(magic))
	for off := int64(0); off < size; off += chunk {
		n, _ := r.ReadAt(buf, off)
		if n <= 0 {
			return false
		}
		if bytes.Contains(buf[:n], magic) {
			return true
		}
	}
	return false
}

// extract runs one extractor on one file. Extractors are third-party parsers
// fed untrusted bytes: a panic or error in one is a warning, not a failed scan.
func (s *layerScanner) extract(ctx context.Context, fsys *memFS, r *retained, ex filesystem.Extractor) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Debug("extractor panicked", "extractor", ex.Name(), "path", r.path, "panic", p, "stack", string(debug.Stack()))
			s.warn("extractor failed on malformed input", "extractor", ex.Name(), "path", r.path, "err", fmt.Sprint(p))
		}
	}()
	start := time.Now()
	inv, err := ex.Extract(ctx, &filesystem.ScanInput{
		FS:     fsys,
		Path:   r.path,
		Info:   memInfo{name: path.Base(r.path), node: r.node},
		Reader: io.NewSectionReader(r.node.data, 0, r.node.size),
	})
	s.log.Debug("extracted", "extractor", ex.Name(), "path", r.path, "packages", len(inv.Packages), "dur", time.Since(start))
	if err != nil {
		s.warn("could not read package data", "extractor", ex.Name(), "path", r.path, "err", err)
	}
	for _, p := range inv.Packages {
		cp, err := toCached(p, r.path, ex.Name())
		if err != nil {
			s.warn("dropping package", "name", p.Name, "err", err)
			continue
		}
		s.rec.Packages = append(s.rec.Packages, cp)
	}
}

// viewFor is the filesystem a layer's extractors see: the layers below with
// this layer's deletions applied, plus this layer's context files.
func viewFor(lower *memFS, rec *layerRecord) *memFS {
	v := newMemFS()
	if lower != nil {
		for k, n := range lower.nodes {
			v.nodes[k] = n
		}
	}
	applyRecord(v, rec)
	return v
}

// applyRecord stacks a layer's deletions and context onto a view.
func applyRecord(v *memFS, rec *layerRecord) {
	for _, d := range rec.Opaque {
		v.remove(d)
		v.putDir(d)
	}
	for _, w := range rec.Whiteouts {
		v.remove(w)
	}
	for _, d := range rec.Dirs {
		v.putDir(d)
	}
	for p, t := range rec.Links {
		v.putLink(p, t)
	}
	for p, data := range rec.Context {
		v.putFile(p, data, 0o644)
	}
}
