package image

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Decompress detects gzip, zstd or bzip2 from the first bytes of r (not from
// a file name) and returns a reader of the plain content.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading gzip data: %w", err)
		}
		return zr, nil
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading zstd data: %w", err)
		}
		return zr.IOReadCloser(), nil
	case len(head) >= 3 && head[0] == 'B' && head[1] == 'Z' && head[2] == 'h':
		return io.NopCloser(bzip2.NewReader(br)), nil
	}
	return io.NopCloser(br), nil
}

// LayerInfo describes a layer written by WriteLayer.
type LayerInfo struct {
	DiffID           v1.Hash // digest of the uncompressed tar
	UncompressedSize int64
	Files            int
}

// WriteLayer reads a root-filesystem tar from r, checks every entry, and
// writes it to w as a gzip-compressed layer. Entry names are normalised
// (leading "/" and "./" removed, as GNU tar does); entries that climb out
// with "..", and hard links pointing outside, are refused with an error
// naming the entry. Absolute symlink targets are kept: inside an image they
// are normal and harmless because a layer is never extracted by following
// links.
func WriteLayer(ctx context.Context, r io.Reader, w io.Writer) (LayerInfo, error) {
	var info LayerInfo
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return info, err
	}
	h := sha256.New()
	counter := &countWriter{w: io.MultiWriter(zw, h)}
	tw := tar.NewWriter(counter)
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return info, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return info, fmt.Errorf("reading tar: %w (is the input a tar archive, plain or gzip/zstd/bzip2-compressed?)", err)
		}
		name, err := cleanEntry(hdr.Name)
		if err != nil {
			return info, err
		}
		if name == "" {
			continue // the archive root itself
		}
		hdr.Name = name
		if hdr.Typeflag == tar.TypeLink {
			target, err := cleanEntry(hdr.Linkname)
			if err != nil || target == "" {
				return info, fmt.Errorf("entry %q: hard link target %q points outside the root filesystem", hdr.Name, hdr.Linkname)
			}
			hdr.Linkname = target
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return info, fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return info, fmt.Errorf("entry %q: %w", hdr.Name, err)
			}
		}
		info.Files++
	}
	if err := tw.Close(); err != nil {
		return info, err
	}
	if err := zw.Close(); err != nil {
		return info, err
	}
	info.DiffID = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	info.UncompressedSize = counter.n
	return info, nil
}

// cleanEntry normalises a tar entry name and refuses names that climb out.
func cleanEntry(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	for strings.HasPrefix(n, "./") {
		n = strings.TrimLeft(n[2:], "/")
	}
	if n == "." || n == "" {
		return "", nil
	}
	dir := strings.HasSuffix(n, "/")
	if err := fsutil.CheckTarPath(strings.TrimSuffix(n, "/")); err != nil {
		return "", err
	}
	n = path.Clean(n)
	if dir {
		n += "/"
	}
	return n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
