package store

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Docker's SIZE (docker images, docker history, inspect's Size) is not the
// layers' tar bytes but what their files take: the graph driver sums the
// sizes of a layer's unpacked files. So does ContentSize, from the tar:
// regular files their size, symbolic links the length of their target
// (what lstat reports), hard links and directories, devices and
// whiteouts nothing; a name written twice counts once, as the disk keeps
// the last. It reads the layer once and keeps the figure in
// meta/ALG/HEX.content, beside the layer facts, which it does not change:
// the record sizes of the index stay the uncompressed bytes.

// contentCountBudget bounds what a query (images, history, inspect, df)
// decompresses to count one layer's files: a listing must not take seconds
// because a large image was just pulled (a pull reads no layer's content).
// Above it the tar length stands in — within a fraction of a percent of
// the files' bytes for real layers — until the first command that reads
// the layer anyway (build, dive, scan, system check: OpenLayer) counts it.
// Plain tars are always counted: only their headers are read.
var contentCountBudget int64 = 32 << 20 // a variable for the tests

// ContentSize returns the size of a layer's files as Docker counts it; for
// a compressed layer above contentCountBudget that nothing has read yet,
// the uncompressed tar length.
func (s *Store) ContentSize(l v1.Descriptor) (int64, error) {
	n, _, err := s.contentSize(l)
	return n, err
}

// contentSize is ContentSize, saying whether the figure is the files'
// bytes (exact) or the tar length standing in for them.
func (s *Store) contentSize(l v1.Descriptor) (n int64, exact bool, err error) {
	if !validHash(l.Digest) {
		return 0, false, fmt.Errorf("layer %s: invalid digest", l.Digest)
	}
	if n, ok := readContentFigure(s.metaPath(l.Digest) + ".content"); ok {
		return n, true, nil
	}
	f, err := s.OpenBlob(l.Digest)
	if err != nil {
		return 0, false, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	defer f.Close()
	var r io.Reader = f // a plain tar is read header by header, seeking past the data
	var head [6]byte
	if k, _ := f.ReadAt(head[:], 0); image.DetectCompression(head[:k]) != image.Uncompressed {
		if fi, err := f.Stat(); err == nil && fi.Size() > contentCountBudget {
			n, err := s.LayerSize(l)
			return n, false, err
		}
		zr, _, err := image.Decompress(f)
		if err != nil {
			return 0, false, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		defer zr.Close()
		r = zr
	}
	if n, err = countTarContent(r); err != nil {
		return 0, false, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	writeContentFigure(s, l.Digest, n)
	return n, true, nil
}

// countTarContent sums a layer tar's files the way ContentSize counts them.
func countTarContent(r io.Reader) (int64, error) {
	sizes := map[string]int64{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("reading layer: %w", err)
		}
		name, err := fsutil.CleanTarName(hdr.Name)
		if err != nil {
			continue // extraction refuses it; it takes no room
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			sizes[name] = hdr.Size
		case tar.TypeSymlink:
			sizes[name] = int64(len(hdr.Linkname))
		default:
			delete(sizes, name)
		}
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	return total, nil
}

// contentCounter counts the files of a layer tar read for another reason
// (OpenLayer's verification): written the tar's bytes as they pass, it
// walks the headers in a goroutine of its own.
type contentCounter struct {
	pw   *io.PipeWriter
	done chan struct{}
	n    int64
	err  error
}

func newContentCounter() *contentCounter {
	pr, pw := io.Pipe()
	c := &contentCounter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.n, c.err = countTarContent(pr)
		// What follows the tar, or all of it after an error: the writer
		// never blocks on a counter that stopped reading.
		io.Copy(io.Discard, pr)
	}()
	return c
}

func (c *contentCounter) Write(p []byte) (int, error) { return c.pw.Write(p) }

// finish ends the stream — with cause when reading it failed, which makes
// the count worthless — and returns the count.
func (c *contentCounter) finish(cause error) (int64, error) {
	c.pw.CloseWithError(cause)
	<-c.done
	if cause != nil {
		return 0, cause
	}
	return c.n, c.err
}

// ImageContentSize is ContentSize summed over the layers of a record's
// image (this machine's platform of an index): Docker's image SIZE. An
// exact sum is kept too (meta/ALG/HEX.content of the record's manifest or
// index), so that listing a thousand images reads a thousand small files,
// not their manifests and every layer's figure.
func (s *Store) ImageContentSize(ctx context.Context, img Image) (int64, error) {
	if !validHash(img.Digest) {
		return 0, fmt.Errorf("image %s: invalid digest", img.Digest)
	}
	p := s.metaPath(img.Digest) + ".content"
	if n, ok := readContentFigure(p); ok {
		return n, nil
	}
	n, exact, err := s.sumContent(ctx, img)
	if err != nil {
		return 0, err
	}
	if exact {
		writeContentFigure(s, img.Digest, n)
	}
	return n, nil
}

func readContentFigure(p string) (int64, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil && n >= 0
}

// writeContentFigure keeps a figure, best effort: it is counted again if
// lost.
func writeContentFigure(s *Store, h v1.Hash, n int64) {
	_ = os.MkdirAll(s.path("meta", h.Algorithm), 0o755)
	_ = fsutil.WriteFileAtomic(s.metaPath(h)+".content", []byte(strconv.FormatInt(n, 10)), 0o644)
}

func (s *Store) sumContent(ctx context.Context, img Image) (total int64, exact bool, err error) {
	vimg, err := s.Image(ctx, img, nil)
	if err != nil {
		return 0, false, err
	}
	m, err := vimg.Manifest()
	if err != nil {
		return 0, false, err
	}
	exact = true
	for _, l := range m.Layers {
		n, ok, err := s.contentSize(l)
		if err != nil {
			return 0, false, err
		}
		total += n
		exact = exact && ok
	}
	return total, exact, nil
}
