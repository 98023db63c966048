package vulndb

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	kflate "github.com/klauspost/compress/flate"
)

// maxNestedZip bounds a zip inside a zip (osv.dev's all.zip files, the
// largest of which is a few hundred MiB).
const maxNestedZip = 4 << 30

// ImportOptions tune an import. The zero value keeps every record whole.
type ImportOptions struct {
	Log *slog.Logger
	// Whole reports whether records of an ecosystem (base name) are kept
	// whole, for matching. A record naming no such ecosystem keeps only its
	// severity, under its id and aliases, for the findings that alias it.
	// Nil keeps every record whole.
	Whole func(ecoBase string) bool
}

// Import adds the OSV records under src (a directory of JSON records, an
// osv.dev all.zip, a zip of such zips, or one JSON file) to the database at
// dbPath as one source named by src's absolute path, replacing the records
// an earlier import of the same path left. The database is rebuilt beside
// the current one and renamed over it: it changes entirely or not at all,
// and scans running meanwhile read the old one.
func Import(ctx context.Context, dbPath, src string, log *slog.Logger) (Source, error) {
	return ImportWith(ctx, dbPath, src, ImportOptions{Log: log})
}

// ImportWith is Import with options.
func ImportWith(ctx context.Context, dbPath, src string, opts ImportOptions) (Source, error) {
	name := src
	if abs, err := filepath.Abs(src); err == nil {
		name = abs
	}
	if _, err := os.Stat(src); err != nil {
		return Source{}, fmt.Errorf("importing %s: %w", src, err)
	}
	b, err := beginBuild(ctx, dbPath, false, opts.Log)
	if err != nil {
		return Source{}, fmt.Errorf("importing %s: %w", src, err)
	}
	s, err := b.importPath(ctx, Source{Name: name, Kind: KindImport}, src, opts)
	if err != nil {
		b.abort()
		return Source{}, fmt.Errorf("importing %s: %w", src, err)
	}
	if err := b.commit(); err != nil {
		return Source{}, fmt.Errorf("importing %s: %w", src, err)
	}
	return s, nil
}

// importPath replaces the source s.Name with the records under path. On
// error the build still holds the source's previous records.
func (b *build) importPath(ctx context.Context, s Source, path string, opts ImportOptions) (Source, error) {
	log := opts.Log
	if log == nil {
		log = b.log
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Source{}, err
	}
	s.Imported = time.Now().UTC()
	s.Ecosystems = map[string]int{}
	w, err := b.newSourceWriter(s, opts.Whole, log)
	if err != nil {
		return Source{}, err
	}
	err = w.run(ctx, func(wk *walker) error {
		switch {
		case fi.IsDir():
			return wk.dir(path)
		case strings.HasSuffix(strings.ToLower(path), ".json"):
			return wk.file(path)
		default:
			return wk.zipFile(path, 0)
		}
	})
	if err == nil && w.src.Records+w.src.Severities == 0 {
		err = fmt.Errorf("no OSV records found in %s (expected *.json records, an osv.dev all.zip or a zip of those)", path)
	}
	if err != nil {
		w.discard()
		return Source{}, err
	}
	return w.src, w.commit()
}

// An entry is one JSON document to parse: a file, or a member of a zip.
type entry struct {
	name string
	size int64 // -1 when unknown until read
	open func() (io.ReadCloser, error)
}

// A walker lists the entries of an import for the decoding workers. Zips
// it opens stay open until the workers are done with them.
type walker struct {
	ctx     context.Context
	emit    func(entry) error
	closers []io.Closer
}

func (w *walker) close() {
	for _, c := range w.closers {
		c.Close()
	}
}

func (w *walker) file(p string) error {
	return w.emit(entry{name: p, size: -1, open: func() (io.ReadCloser, error) { return os.Open(p) }})
}

func (w *walker) dir(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // directories are walked; symlinks are not followed
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".json":
			return w.file(p)
		case ".zip":
			return w.zipFile(p, 0)
		}
		return nil
	})
}

// zipFile emits every *.json in a zip, and the *.json of every zip inside
// it (one level deep, as a zip of osv.dev's per-ecosystem all.zip files).
func (w *walker) zipFile(p string, depth int) error {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return fmt.Errorf("%s is neither a directory, a JSON record nor a zip: %w", p, err)
	}
	w.closers = append(w.closers, zr)
	useFastInflate(&zr.Reader)
	return w.zip(p, &zr.Reader, depth)
}

func (w *walker) zip(name string, zr *zip.Reader, depth int) error {
	for _, zf := range zr.File {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if zf.FileInfo().IsDir() {
			continue
		}
		lower := strings.ToLower(zf.Name)
		switch {
		case strings.HasSuffix(lower, ".json"):
			size := int64(zf.UncompressedSize64)
			if zf.UncompressedSize64 > MaxRecordSize {
				size = MaxRecordSize + 1
			}
			if err := w.emit(entry{name: name + "!" + zf.Name, size: size, open: zf.Open}); err != nil {
				return err
			}
		case strings.HasSuffix(lower, ".zip") && depth == 0:
			if err := w.nested(name, zf); err != nil {
				return err
			}
		}
	}
	return nil
}

// nested spools a zip inside a zip to an unlinked temporary file, since zip
// needs random access, and walks it.
func (w *walker) nested(outer string, zf *zip.File) error {
	if zf.UncompressedSize64 > maxNestedZip {
		return fmt.Errorf("%s in %s is larger than %d bytes", zf.Name, outer, maxNestedZip)
	}
	tmp, err := os.CreateTemp("", "berth-osv-*.zip")
	if err != nil {
		return err
	}
	os.Remove(tmp.Name()) // the open file lives until the import is over
	w.closers = append(w.closers, tmp)
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("reading %s in %s: %w", zf.Name, outer, err)
	}
	n, err := io.Copy(tmp, io.LimitReader(rc, maxNestedZip+1))
	rc.Close()
	if err != nil {
		return fmt.Errorf("reading %s in %s: %w", zf.Name, outer, err)
	}
	zr, err := zip.NewReader(tmp, n)
	if err != nil {
		return fmt.Errorf("%s in %s is not a zip: %w", zf.Name, outer, err)
	}
	useFastInflate(zr)
	return w.zip(outer+"!"+zf.Name, zr, 1)
}

// useFastInflate reads deflated entries with klauspost/compress's inflater,
// faster than the standard library's, from a pool: an export is tens of
// thousands of small entries, and a new inflater's window costs more than
// inflating one of them. The zip reader still checks each entry's CRC-32.
func useFastInflate(zr *zip.Reader) {
	zr.RegisterDecompressor(zip.Deflate, func(r io.Reader) io.ReadCloser {
		if fr, ok := inflaters.Get().(io.ReadCloser); ok {
			if err := fr.(kflate.Resetter).Reset(r, nil); err == nil {
				return &pooledInflater{ReadCloser: fr}
			}
		}
		return &pooledInflater{ReadCloser: kflate.NewReader(r)}
	})
}

var inflaters sync.Pool

type pooledInflater struct {
	io.ReadCloser
	closed bool
}

func (p *pooledInflater) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.ReadCloser.Close()
	inflaters.Put(p.ReadCloser)
	return err
}
