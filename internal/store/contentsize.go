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

// ContentSize returns the size of a layer's files as Docker counts it.
func (s *Store) ContentSize(l v1.Descriptor) (int64, error) {
	if !validHash(l.Digest) {
		return 0, fmt.Errorf("layer %s: invalid digest", l.Digest)
	}
	if n, ok := readContentFigure(s.metaPath(l.Digest) + ".content"); ok {
		return n, nil
	}
	n, err := s.countContent(l.Digest)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	writeContentFigure(s, l.Digest, n)
	return n, nil
}

func (s *Store) countContent(h v1.Hash) (int64, error) {
	f, err := s.OpenBlob(h)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// A plain tar is read header by header, seeking past the data.
	var r io.Reader = f
	var head [6]byte
	if n, _ := f.ReadAt(head[:], 0); image.DetectCompression(head[:n]) != image.Uncompressed {
		zr, _, err := image.Decompress(f)
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		r = zr
	}
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

// ImageContentSize is ContentSize summed over the layers of a record's
// image (this machine's platform of an index): Docker's image SIZE. The sum
// is kept too (meta/ALG/HEX.content of the record's manifest or index), so
// that listing a thousand images reads a thousand small files, not their
// manifests and every layer's figure.
func (s *Store) ImageContentSize(ctx context.Context, img Image) (int64, error) {
	if !validHash(img.Digest) {
		return 0, fmt.Errorf("image %s: invalid digest", img.Digest)
	}
	p := s.metaPath(img.Digest) + ".content"
	if n, ok := readContentFigure(p); ok {
		return n, nil
	}
	n, err := s.sumContent(ctx, img)
	if err != nil {
		return 0, err
	}
	writeContentFigure(s, img.Digest, n)
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

func (s *Store) sumContent(ctx context.Context, img Image) (int64, error) {
	vimg, err := s.Image(ctx, img, nil)
	if err != nil {
		return 0, err
	}
	m, err := vimg.Manifest()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range m.Layers {
		n, err := s.ContentSize(l)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
