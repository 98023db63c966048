package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path"
	"runtime"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Sink is where Load puts blobs: a content-addressed store. Package cli
// adapts the local store to it.
type Sink interface {
	// Put stores r as a blob. A non-zero want is the digest r must hash to
	// (and size, when >= 0, its length); a zero want accepts whatever r hashes
	// to. Nothing is kept unless it matches.
	Put(ctx context.Context, want v1.Hash, size int64, r io.Reader) (d v1.Hash, n int64, err error)
	// Open reads a stored blob.
	Open(ctx context.Context, h v1.Hash) (io.ReadCloser, error)
}

// Loaded is one image or index found in an archive, its blobs now in the
// sink.
type Loaded struct {
	Descriptor v1.Descriptor
	// Names are full references ("docker.io/library/busybox:latest") the
	// archive gives the image; empty for an image saved by ID.
	Names []string
}

// LoadOptions tune Load. The zero value is ready to use.
type LoadOptions struct {
	// Normalize turns a name found in the archive ("busybox:latest") into a
	// full reference; nil uses go-containerregistry's parser with Docker's
	// defaults. Names it rejects are skipped with a debug log line.
	Normalize func(string) (string, error)
	Logger    *slog.Logger
}

// Limits on what Load reads into memory. The JSON documents of an archive are
// small; anything larger is an attack or a mistake.
const (
	maxMetadata = 32 << 20 // manifest.json, index.json, repositories
	maxManifest = 8 << 20  // a manifest, index or config blob
	maxDepth    = 8        // index nesting
	maxLinkHops = 16
)

// fileInfo is what Load learned about a regular file of the archive while
// streaming it into the sink.
type fileInfo struct {
	digest v1.Hash
	size   int64
	comp   image.Compression // of the file itself (old-style layers may be gzip)
}

type loader struct {
	sink  Sink
	opts  LoadOptions
	log   *slog.Logger
	files map[string]fileInfo
	links map[string]string // link entry → target, relative to the root
	meta  map[string][]byte
	seen  map[string]bool // every entry name, to refuse duplicates

	g  *errgroup.Group // blobs being stored
	mu sync.Mutex      // guards files while blobs are stored

	// For a seekable archive (loadIndexed): where blob data is read from,
	// and the offset of the current entry's data.
	src io.ReaderAt
	pos func() int64
}

// ErrNotArchive is returned for a stream that holds no image archive.
var ErrNotArchive = errors.New("not an image archive")

// Load reads an image archive from r into sink, verifying every blob, and
// returns the images it holds. It streams: layers go to the sink as they are
// read, and manifest.json/index.json are resolved once the end is reached.
// A failed load names no image: the blobs it stored are referenced by
// nothing, and the store's garbage collection (safe against concurrent
// writers, unlike deleting them here) takes them away; cli runs it at once.
func Load(ctx context.Context, r io.Reader, sink Sink, opts LoadOptions) ([]Loaded, error) {
	l := newLoader(sink, opts)
	if src, base, ok := seekableTar(r); ok {
		return l.loadIndexed(ctx, src, base)
	}
	rc, comp, err := image.Decompress(r)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	ra := newReadAhead(rc)
	defer ra.Close()
	l.log.Debug("reading archive", "compression", string(comp))
	if err := l.finish(l.read(l.begin(ctx), tar.NewReader(ra))); err != nil {
		return nil, err
	}
	return l.resolve(ctx)
}

// seekableTar reports whether r is an uncompressed archive that can be read
// at any offset (a regular file, or bytes in memory), from its current
// position base.
func seekableTar(r io.Reader) (io.ReaderAt, int64, bool) {
	ra, ok1 := r.(io.ReaderAt)
	sk, ok2 := r.(io.Seeker)
	if !ok1 || !ok2 {
		return nil, 0, false
	}
	base, err := sk.Seek(0, io.SeekCurrent) // fails on pipes
	if err != nil {
		return nil, 0, false
	}
	head := make([]byte, 6)
	n, _ := ra.ReadAt(head, base)
	if image.DetectCompression(head[:n]) != image.Uncompressed {
		return nil, 0, false
	}
	return ra, base, true
}

// loadIndexed reads a seekable uncompressed archive: the tar headers are
// read in order, but each blob is handed to the sink as a section of the
// file, read with pread on its own goroutine, while the tar reader seeks
// past it. Blobs are hashed in parallel, one per core.
func (l *loader) loadIndexed(ctx context.Context, src io.ReaderAt, base int64) ([]Loaded, error) {
	sr := io.NewSectionReader(src, base, math.MaxInt64-base)
	l.src = src
	l.pos = func() int64 {
		off, _ := sr.Seek(0, io.SeekCurrent)
		return base + off
	}
	if err := l.finish(l.read(l.begin(ctx), tar.NewReader(sr))); err != nil {
		return nil, err
	}
	return l.resolve(ctx)
}

// exactReader reads n bytes of r and reports io.ErrUnexpectedEOF, not EOF,
// when r ends first: a section past the end of a file is a truncated
// archive.
type exactReader struct {
	r io.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	m, err := e.r.Read(p)
	e.n -= int64(m)
	if err == io.EOF && e.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return m, err
}

func newLoader(sink Sink, opts LoadOptions) *loader {
	l := &loader{
		sink:  sink,
		opts:  opts,
		log:   opts.Logger,
		files: map[string]fileInfo{},
		links: map[string]string{},
		meta:  map[string][]byte{},
		seen:  map[string]bool{},
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.opts.Normalize == nil {
		l.opts.Normalize = defaultNormalize
	}
	return l
}

func (l *loader) read(ctx context.Context, tr *tar.Reader) error {
	br := bufio.NewReaderSize(nil, 64<<10)
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) && last == "" {
			if last == "" {
				return fmt.Errorf("%w: the data is not a tar stream (nor gzip, zstd, bzip2 or xz)", ErrNotArchive)
			}
			return fmt.Errorf("archive is corrupt after entry %q: %w", last, err)
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", truncated(err))
		}
		if err := l.entry(ctx, hdr, tr, br); err != nil {
			return err
		}
		last = hdr.Name
	}
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("archive is truncated")
	}
	return err
}

func (l *loader) entry(ctx context.Context, hdr *tar.Header, tr io.Reader, br *bufio.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return fmt.Errorf("refusing archive: %w", err)
	}
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeXGlobalHeader:
		return nil
	case tar.TypeSymlink, tar.TypeLink:
		target, err := linkTarget(name, hdr.Linkname, hdr.Typeflag == tar.TypeSymlink)
		if err != nil {
			return fmt.Errorf("refusing archive: %w", err)
		}
		if err := l.claim(name); err != nil {
			return err
		}
		l.links[name] = target
		return nil
	case tar.TypeReg: // archive/tar reports old '\x00' regular files as TypeReg
	default:
		return fmt.Errorf("refusing archive: entry %q has unsupported type %q", name, string(hdr.Typeflag))
	}
	for k := range hdr.PAXRecords {
		// A sparse entry expands a few bytes of archive into gigabytes of
		// zeros; image archives never hold one.
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fmt.Errorf("refusing archive: entry %q is a sparse file", name)
		}
	}
	if hdr.Size < 0 {
		return fmt.Errorf("refusing archive: entry %q has negative size", name)
	}
	if err := l.claim(name); err != nil {
		return err
	}
	switch name {
	case manifestFile, indexFile, repositoriesFile, layoutFile:
		if hdr.Size > maxMetadata {
			return fmt.Errorf("refusing archive: %s is %d bytes (limit %d)", name, hdr.Size, maxMetadata)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, truncated(err))
		}
		l.meta[name] = b
		return nil
	}
	if isLegacyV1File(name) {
		return nil // Docker's pre-1.10 per-layer json and VERSION; manifest.json supersedes them
	}
	alg, hexDigest, isBlob, err := parseBlobPath(name)
	if err != nil {
		return fmt.Errorf("refusing archive: %w", err)
	}
	var want v1.Hash
	if isBlob {
		want = v1.Hash{Algorithm: alg, Hex: hexDigest}
	}
	size := hdr.Size
	if l.src != nil {
		off := l.pos()
		head := make([]byte, 6)
		k, _ := l.src.ReadAt(head[:min(6, size)], off)
		comp := image.DetectCompression(head[:k])
		r := &exactReader{r: io.NewSectionReader(l.src, off, size), n: size}
		l.g.Go(func() error { return l.put(ctx, name, want, size, comp, r) })
		return nil // the tar reader seeks past the data
	}
	br.Reset(tr)
	head, _ := br.Peek(6)
	comp := image.DetectCompression(head)
	// From a stream, the sink stores the blob on another goroutine, fed
	// through a pipe, so that the store's fsync of one blob overlaps reading
	// the next (the group bounds how many are in flight).
	pr, pw := io.Pipe()
	l.g.Go(func() error {
		err := l.put(ctx, name, want, size, comp, pr)
		if err != nil {
			pr.CloseWithError(err)
			return err
		}
		pr.CloseWithError(errBlobDone) // a sink that stopped early stops the feeder
		return nil
	})
	_, err = io.Copy(pw, br)
	pw.CloseWithError(err)
	if err != nil && !errors.Is(err, errBlobDone) {
		return fmt.Errorf("entry %q: %w", name, truncated(err))
	}
	return nil
}

var errBlobDone = errors.New("blob stored")

// put stores one blob entry and records it.
func (l *loader) put(ctx context.Context, name string, want v1.Hash, size int64, comp image.Compression, r io.Reader) error {
	d, n, err := l.sink.Put(ctx, want, size, r)
	if err != nil {
		return fmt.Errorf("entry %q: %w", name, truncated(err))
	}
	if n != size {
		return fmt.Errorf("entry %q: read %d bytes, header says %d", name, n, size)
	}
	l.mu.Lock()
	l.files[name] = fileInfo{digest: d, size: n, comp: comp}
	l.mu.Unlock()
	l.log.Debug("blob", "entry", name, "digest", d.String(), "bytes", n)
	return nil
}

// begin starts the group that stores blobs in the background; finish waits
// for it and prefers its error, the cause, to the cancellation it led to.
func (l *loader) begin(ctx context.Context) context.Context {
	var gctx context.Context
	l.g, gctx = errgroup.WithContext(ctx)
	l.g.SetLimit(2 * max(2, runtime.GOMAXPROCS(0)))
	return gctx
}

func (l *loader) finish(err error) error {
	if werr := l.g.Wait(); werr != nil {
		return werr
	}
	return err
}

// claim refuses a second entry with the same name: which one counts would
// depend on the reader, and a verified blob could be swapped behind a check.
func (l *loader) claim(name string) error {
	if l.seen[name] {
		return fmt.Errorf("refusing archive: entry %q appears twice", name)
	}
	l.seen[name] = true
	return nil
}

// isLegacyV1File recognises "<layer id>/json" and "<layer id>/VERSION".
func isLegacyV1File(name string) bool {
	dir, base := path.Split(name)
	return strings.Count(dir, "/") == 1 && (base == "json" || base == "VERSION")
}

// lookup finds the regular file an archive path names, following links
// inside the archive.
func (l *loader) lookup(name string) (fileInfo, string, error) {
	orig := name
	c, err := cleanName(name)
	if err != nil {
		return fileInfo{}, "", err
	}
	name = c
	for i := 0; i < maxLinkHops; i++ {
		if f, ok := l.files[name]; ok {
			return f, name, nil
		}
		t, ok := l.links[name]
		if !ok {
			return fileInfo{}, "", fmt.Errorf("archive names %q, which it does not contain", orig)
		}
		name = t
	}
	return fileInfo{}, "", fmt.Errorf("archive entry %q: too many levels of links", orig)
}
