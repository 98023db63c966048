package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"log/slog"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

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
	// metaBytes is the sum of meta's sizes.
	metaBytes int64
	configs   map[string]bool // archive paths of the configs of the manifests check has read
	seen      map[string]bool // every entry name, to refuse duplicates

	g  *errgroup.Group // blobs being stored
	mu sync.Mutex      // guards files and needs while blobs are stored

	needs *needs // what the descriptors say the archive holds (guarded by mu)
	// For a stream: the bytes read of the (compressed) input, and those
	// stored before the archive said they were needed (see specBudget).
	in   *countingReader
	spec atomic.Int64
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
	l.in = &countingReader{r: r}
	rc, comp, err := image.Decompress(l.in)
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
		sink:    sink,
		opts:    opts,
		log:     opts.Logger,
		files:   map[string]fileInfo{},
		links:   map[string]string{},
		meta:    map[string][]byte{},
		configs: map[string]bool{},
		seen:    map[string]bool{},
		needs:   newNeeds(),
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
		hdr, err := next(ctx, tr, last)
		if hdr == nil || err != nil {
			return err
		}
		if err := l.entry(ctx, hdr, tr, br); err != nil {
			return err
		}
		last = hdr.Name
	}
}

// next reads the next tar header; nil at the end. last is the previous
// entry's name, "" for the first, which tells garbage from corruption.
func next(ctx context.Context, tr *tar.Reader, last string) (*tar.Header, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hdr, err := tr.Next()
	if err == io.EOF {
		return nil, nil
	}
	var te image.TruncatedError
	if errors.As(err, &te) {
		return nil, fmt.Errorf("reading archive: %w", truncated(err))
	}
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) && last == "" {
		if last == "" {
			return nil, fmt.Errorf("%w: the data is not a tar stream (nor gzip, zstd, bzip2 or xz)", ErrNotArchive)
		}
		return nil, fmt.Errorf("archive is corrupt after entry %s: %w", untrusted.Quote(last), err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading archive: %w", truncated(err))
	}
	return hdr, nil
}

func truncated(err error) error {
	var te image.TruncatedError
	if errors.As(err, &te) {
		return fmt.Errorf("archive is truncated: %w", te)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("archive is truncated")
	}
	return err
}

// entryKind is what header found an entry to be.
type entryKind int

const (
	kindNone entryKind = iota // a directory, a legacy v1 file: nothing to keep
	kindLink
	kindMeta // manifest.json, index.json, repositories, oci-layout, a legacy layer json
	kindData // a blob, or a file old-style archives name by path
)

// header checks an entry's header, records links, and says what the entry
// is, under its clean name; for data named by its digest (blobs/sha256/…)
// it returns that digest.
func (l *loader) header(hdr *tar.Header) (entryKind, string, v1.Hash, error) {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return 0, "", v1.Hash{}, fmt.Errorf("refusing archive: %w", err)
	}
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeXGlobalHeader:
		return kindNone, name, v1.Hash{}, nil
	case tar.TypeSymlink, tar.TypeLink:
		target, err := linkTarget(name, hdr.Linkname, hdr.Typeflag == tar.TypeSymlink)
		if err != nil {
			return 0, "", v1.Hash{}, fmt.Errorf("refusing archive: %w", err)
		}
		if err := l.claim(name); err != nil {
			return 0, "", v1.Hash{}, err
		}
		l.links[name] = target
		l.mu.Lock()
		err = l.needs.link(name, target)
		l.mu.Unlock()
		return kindLink, name, v1.Hash{}, refusing(err)
	case tar.TypeReg: // archive/tar reports old '\x00' regular files as TypeReg
	default:
		return 0, "", v1.Hash{}, fmt.Errorf("refusing archive: entry %s has unsupported type %s", untrusted.Quote(name), untrusted.Quote(string(hdr.Typeflag)))
	}
	for k := range hdr.PAXRecords {
		// A sparse entry expands a few bytes of archive into gigabytes of
		// zeros; image archives never hold one.
		if strings.HasPrefix(k, "GNU.sparse.") {
			return 0, "", v1.Hash{}, fmt.Errorf("refusing archive: entry %s is a sparse file", untrusted.Quote(name))
		}
	}
	if hdr.Size < 0 {
		return 0, "", v1.Hash{}, fmt.Errorf("refusing archive: entry %s has negative size", untrusted.Quote(name))
	}
	if err := l.claim(name); err != nil {
		return 0, "", v1.Hash{}, err
	}
	switch name {
	case manifestFile, indexFile, repositoriesFile, layoutFile:
		if hdr.Size > maxMetadata {
			return 0, "", v1.Hash{}, fmt.Errorf("refusing archive: %s is %d bytes (limit %d)", name, hdr.Size, maxMetadata)
		}
		return kindMeta, name, v1.Hash{}, nil
	}
	if isLegacyV1File(name) {
		if path.Base(name) == "VERSION" {
			return kindNone, name, v1.Hash{}, nil
		}
		// A layer's json: all a pre-1.10 archive (no manifest.json) says
		// of its images; later archives still carry them.
		if hdr.Size > maxManifest {
			return 0, "", v1.Hash{}, fmt.Errorf("refusing archive: %s is %d bytes (limit %d)", untrusted.Quote(name), hdr.Size, maxManifest)
		}
		return kindMeta, name, v1.Hash{}, nil
	}
	alg, hexDigest, isBlob, err := parseBlobPath(name)
	if err != nil {
		return 0, "", v1.Hash{}, fmt.Errorf("refusing archive: %w", err)
	}
	var want v1.Hash
	if isBlob {
		want = v1.Hash{Algorithm: alg, Hex: hexDigest}
	}
	return kindData, name, want, nil
}

func refusing(err error) error {
	if err != nil {
		return fmt.Errorf("refusing archive: %w", err)
	}
	return nil
}

// addMeta keeps a metadata file and learns the archive's roots from it.
func (l *loader) addMeta(name string, b []byte) error {
	// Each file is bounded in header; legacy layer jsons are many, so
	// their sum is bounded too.
	if l.metaBytes += int64(len(b)); l.metaBytes > 2*maxMetadata {
		return fmt.Errorf("refusing archive: its metadata files add up to more than %d bytes", 2*maxMetadata)
	}
	l.meta[name] = b
	l.mu.Lock()
	defer l.mu.Unlock()
	return refusing(l.needs.roots(name, b))
}

// decide says whether to store the data entry name of size bytes: not when
// the archive has said everything it needs and this is not among it; never
// when its descriptor declares another size. declared reports that a
// descriptor vouches for the size, so that it need not count against
// specBudget.
func (l *loader) decide(name string, size int64) (store, declared bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	want, ok := l.needs.lookup(name)
	switch {
	case !ok && l.needs.complete():
		return false, false, nil
	case ok && want != unknownSize && want != size:
		return false, false, fmt.Errorf("refusing archive: entry %s is %d bytes, its descriptor says %d", untrusted.Quote(name), size, want)
	}
	return true, ok && want != unknownSize, nil
}

// entry handles one entry of a streamed archive.
func (l *loader) entry(ctx context.Context, hdr *tar.Header, tr io.Reader, br *bufio.Reader) error {
	kind, name, want, err := l.header(hdr)
	if err != nil || kind == kindNone || kind == kindLink {
		return err
	}
	if kind == kindMeta {
		b, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, truncated(err))
		}
		if err := l.addMeta(name, b); err != nil {
			return err
		}
		return l.expandStored(ctx)
	}
	size := hdr.Size
	keep, declared, err := l.decide(name, size)
	if err != nil {
		return err
	}
	if !keep {
		l.log.Debug("skipping an entry nothing references", "entry", name, "bytes", size)
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("entry %s: %w", untrusted.Quote(name), truncated(err))
		}
		return nil
	}
	var data io.Reader = tr
	if !declared && l.in != nil {
		data = &budgetReader{r: tr, l: l}
	}
	br.Reset(data)
	head, _ := br.Peek(6)
	comp := image.DetectCompression(head)
	if l.reached(want) {
		// A manifest or index the images reach: store it and learn what
		// it needs before the next entry, which it may declare.
		return l.put(ctx, name, want, size, comp, br)
	}
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
		return fmt.Errorf("entry %s: %w", untrusted.Quote(name), truncated(err))
	}
	return nil
}

var errBlobDone = errors.New("blob stored")

// put stores one blob entry and records it.
func (l *loader) put(ctx context.Context, name string, want v1.Hash, size int64, comp image.Compression, r io.Reader) error {
	d, n, err := l.sink.Put(ctx, want, size, r)
	if err != nil {
		return fmt.Errorf("entry %s: %w", untrusted.Quote(name), truncated(err))
	}
	if n != size {
		return fmt.Errorf("entry %s: read %d bytes, header says %d", untrusted.Quote(name), n, size)
	}
	l.mu.Lock()
	l.files[name] = fileInfo{digest: d, size: n, comp: comp}
	err = l.checkStored()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.log.Debug("blob", "entry", name, "digest", d.String(), "bytes", n)
	return l.expandStored(ctx)
}

// reached reports whether h is a manifest or index the archive's images
// reach and whose content is not read yet.
func (l *loader) reached(h v1.Hash) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.needs.pending[h]
	return ok
}

// checkStored refuses a stored entry whose size a descriptor learnt since
// contradicts. l.mu is held.
func (l *loader) checkStored() error {
	for name, f := range l.files {
		if want, ok := l.needs.want[name]; ok && want != unknownSize && want != f.size {
			return fmt.Errorf("refusing archive: entry %s is %d bytes, its descriptor says %d", untrusted.Quote(name), f.size, want)
		}
	}
	return nil
}

// expandStored reads, from the sink, the manifests and indexes the archive
// has been found to reach and whose blobs are already stored (in a stream,
// a manifest may come before the index that names it), and learns what they
// need, until there is nothing more to learn now.
func (l *loader) expandStored(ctx context.Context) error {
	for {
		l.mu.Lock()
		var ready []pendingDesc
		for _, p := range l.needs.pending {
			if _, ok := l.files[blobPath("sha256", p.d.Digest.Hex)]; ok {
				ready = append(ready, p)
			}
		}
		l.mu.Unlock()
		if len(ready) == 0 {
			return nil
		}
		for _, p := range ready {
			raw, err := l.readBlob(ctx, p.d.Digest, maxManifest)
			if err != nil {
				raw = nil // too large for a manifest: resolve says so
			}
			l.mu.Lock()
			if _, still := l.needs.pending[p.d.Digest]; still {
				err = l.needs.expand(p, raw)
				if err == nil {
					err = l.checkStored()
				}
			}
			l.mu.Unlock()
			if err != nil {
				return refusing(err)
			}
		}
	}
}

// specBudget bounds what a compressed stream may have stored before its
// descriptors say the bytes are needed: Docker's archives list index.json
// and manifest.json after the blobs, so `docker save | gzip | berth load`
// knows nothing of a layer while it reads it. A genuine layer compresses a
// few times; a header of zeros a thousand. Past specFloor, such bytes may
// be at most specRatio times the compressed bytes read so far. A plain
// stream never reaches the bound (the bytes stored are bytes read), and a
// file is read index first, so it needs none.
const (
	specFloor = 64 << 20
	specRatio = 32
)

type budgetReader struct {
	r   io.Reader
	l   *loader
	err error
}

// Read fails for good, with no data, once the budget is spent: a reader
// that returned data with the error would be read on (bufio does).
func (b *budgetReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	spec, in := b.l.spec.Add(int64(n)), b.l.in.n.Load()
	if spec > specFloor+specRatio*in {
		b.err = fmt.Errorf("refusing archive: it expands to more than %d times the %d compressed bytes read before it says which blobs it needs; if it is genuine, decompress it and load the file, which berth reads index first", specRatio, in)
		return 0, b.err
	}
	return n, err
}

// countingReader counts the bytes read through it; Read and the count may
// be on different goroutines.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
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
		return fmt.Errorf("refusing archive: entry %s appears twice", untrusted.Quote(name))
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
			return fileInfo{}, "", fmt.Errorf("archive names %s, which it does not contain", untrusted.Quote(orig))
		}
		name = t
	}
	return fileInfo{}, "", fmt.Errorf("archive entry %s: too many levels of links", untrusted.Quote(orig))
}
