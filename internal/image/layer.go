package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
)

// LayerInfo describes a layer written by WriteLayer.
type LayerInfo struct {
	DiffID           v1.Hash // digest of the uncompressed tar
	UncompressedSize int64
	Files            int
}

// WriteLayer reads a root-filesystem tar from r, checks every entry, and
// writes it to w as a gzip-compressed layer. Entry names are normalised
// (leading "/" and "./" removed, as GNU tar does). Every entry is checked
// with fsutil.LayerChecker, the rules the unpacker enforces (no "..", nothing
// written through a symlink, hard links to earlier files only, no
// whiteouts, Linux's path limits), so that what unpacking would refuse is
// refused here, naming the entry. Absolute symlink targets are kept: inside
// an image they are normal and harmless because a layer is never extracted
// by following links.
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
	var check fsutil.LayerChecker // a root filesystem: no whiteouts
	for {
		if err := ctx.Err(); err != nil {
			return info, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return info, truncatedInput(err)
		}
		if err != nil {
			return info, fmt.Errorf("reading tar: %w (is the input a tar archive, plain or gzip, zstd, bzip2 or xz-compressed?)", err)
		}
		name, err := check.Check(hdr)
		if err != nil {
			return info, fmt.Errorf("refusing root filesystem: %w", err)
		}
		if name == "" {
			continue // the archive root itself
		}
		if strings.HasSuffix(hdr.Name, "/") {
			name += "/" // directories keep the trailing slash they came with
		}
		hdr.Name = name
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname, _ = fsutil.CleanTarName(hdr.Linkname) // the checker vouched for it
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return info, fmt.Errorf("entry %s: %w", untrusted.Quote(hdr.Name), err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					err = truncatedInput(err)
				}
				return info, fmt.Errorf("entry %s: %w", untrusted.Quote(hdr.Name), err)
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

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// truncatedInput says that the tar ends early and, for compressed input,
// that the compressed stream does.
func truncatedInput(err error) error {
	var te TruncatedError
	if errors.As(err, &te) {
		return fmt.Errorf("the input is truncated: %w", te)
	}
	return errors.New("the input is truncated: the tar data ends in the middle of an entry")
}
