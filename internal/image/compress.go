package image

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"strconv"
	"strings"
)

// Compression names a stream's compression, as found in its first bytes
// (never from a file name or a media type, which may lie).
type Compression string

const (
	Uncompressed Compression = "none"
	Gzip         Compression = "gzip"
	Zstd         Compression = "zstd"
	Bzip2        Compression = "bzip2"
	Xz           Compression = "xz"
)

var magics = []struct {
	c     Compression
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{Bzip2, []byte("BZh")},
	{Xz, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
}

// DetectCompression names the compression of a stream that starts with
// head (6 bytes are enough).
func DetectCompression(head []byte) Compression {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.c
		}
	}
	return Uncompressed
}

// Decompression bounds. A zstd frame names the window its decoder must
// keep; zstd's "normal" levels use at most 8 MiB and `zstd --long` 128 MiB,
// so a larger one was made to exhaust memory, not to be read. An xz
// (LZMA2) dictionary is the same thing: xz -9 uses 64 MiB.
const (
	MaxZstdWindow = 128 << 20
	MaxXzDict     = 128 << 20
)

// ErrTooMuchMemory is wrapped when a compressed stream asks for more
// decoder memory than the bounds above.
var ErrTooMuchMemory = errors.New("the compressed data asks for more decoder memory than berth allows")

// Decompress detects gzip, zstd, bzip2 or xz from the first bytes of r and
// returns a reader of the plain content (r itself, buffered, when it is not
// compressed) and the compression found. Decoder memory is bounded (see
// MaxZstdWindow, MaxXzDict): a stream that asks for more fails with
// ErrTooMuchMemory. The caller closes the reader, not r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	head, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, "", fmt.Errorf("reading the first bytes: %w", err)
	}
	c := DetectCompression(head)
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("opening gzip stream: %w", err)
		}
		return truncReader{zr, c}, c, nil
	case Zstd:
		// One decoding goroutine: berth reads several layers at once,
		// and a frame's blocks depend on each other anyway.
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, c, fmt.Errorf("opening zstd stream: %w", err)
		}
		return truncReader{zstdCloser{zr}, c}, c, nil
	case Bzip2:
		// bzip2 blocks are at most 900 kB by the format: bounded already.
		return truncReader{io.NopCloser(bzip2.NewReader(br)), c}, c, nil
	case Xz:
		if err := checkXzDict(br); err != nil {
			return nil, c, err
		}
		zr, err := xz.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("opening xz stream: %w", err)
		}
		return truncReader{io.NopCloser(zr), c}, c, nil
	}
	return io.NopCloser(br), c, nil
}

// TruncatedError is what reading a compressed stream that ends before its
// end marker returns: every decoder says only "unexpected EOF", which does
// not tell a cut download from a corrupt tar. It matches
// io.ErrUnexpectedEOF too.
type TruncatedError struct{ Compression Compression }

func (e TruncatedError) Error() string {
	return fmt.Sprintf("the %s stream ends early", e.Compression)
}

func (e TruncatedError) Is(target error) bool { return target == io.ErrUnexpectedEOF }

// truncReader names a decoder's unexpected EOF as a TruncatedError.
type truncReader struct {
	io.ReadCloser
	c Compression
}

func (t truncReader) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		var te TruncatedError
		if !errors.As(err, &te) {
			err = TruncatedError{t.c}
		}
	}
	return n, err
}

// zstdCloser adapts zstd.Decoder, whose Close returns nothing, and turns
// its window error into ErrTooMuchMemory.
type zstdCloser struct{ d *zstd.Decoder }

func (z zstdCloser) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		err = fmt.Errorf("zstd: %w (window larger than %d MiB)", ErrTooMuchMemory, MaxZstdWindow>>20)
	}
	return n, err
}

func (z zstdCloser) Close() error { z.d.Close(); return nil }

// checkXzDict reads the LZMA2 dictionary size the first block of an xz
// stream declares (the decoder allocates it whole) and refuses one above
// MaxXzDict. The stream header is 12 bytes; the block header follows with
// its filter flags (xz file format 1.1.0, sections 2.1 and 3.1).
func checkXzDict(br *bufio.Reader) error {
	head, _ := br.Peek(12 + 1024)
	if len(head) < 13 {
		return nil // too short to hold a block: the decoder reports it
	}
	b := head[12:]
	if b[0] == 0 {
		return nil // index indicator: an empty stream
	}
	size := (int(b[0]) + 1) * 4
	if size > len(b) {
		return nil
	}
	b = b[1:size]
	flags := b[0]
	nfilters := int(flags&3) + 1
	b = b[1:]
	if flags&0x40 != 0 {
		if b = skipVarint(b); b == nil {
			return nil
		}
	}
	if flags&0x80 != 0 {
		if b = skipVarint(b); b == nil {
			return nil
		}
	}
	for i := 0; i < nfilters; i++ {
		id, rest := readVarint(b)
		if rest == nil {
			return nil
		}
		n, rest := readVarint(rest)
		if rest == nil || uint64(len(rest)) < n {
			return nil
		}
		props := rest[:n]
		b = rest[n:]
		if id == 0x21 && len(props) == 1 {
			if d := lzma2DictSize(props[0]); d > MaxXzDict {
				return fmt.Errorf("xz: %w (dictionary of %d MiB, at most %d MiB)", ErrTooMuchMemory, d>>20, MaxXzDict>>20)
			}
		}
	}
	return nil
}

// lzma2DictSize decodes LZMA2's one-byte dictionary size.
func lzma2DictSize(p byte) uint64 {
	if p > 40 {
		return 1 << 63 // invalid: the decoder refuses it; report it as huge
	}
	if p == 40 {
		return 1<<32 - 1
	}
	return uint64(2|p&1) << (p/2 + 11)
}

func readVarint(b []byte) (uint64, []byte) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, b[i+1:]
		}
	}
	return 0, nil
}

func skipVarint(b []byte) []byte { _, rest := readVarint(b); return rest }

// LooksLikeTar reports whether head (the first 512 bytes of a plain
// stream) is a tar header: POSIX ustar or GNU magic, or an old v7 header
// whose checksum is right. ADD and build contexts use it to tell an archive
// from a file that only happens to be compressed.
func LooksLikeTar(head []byte) bool {
	if len(head) < 512 {
		return false
	}
	if bytes.Equal(head[257:262], []byte("ustar")) {
		return true
	}
	// A v7 tar has no magic; take it when the header checksum is right.
	if head[0] == 0 {
		return false
	}
	var sum int64
	for i, c := range head[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	want, err := strconv.ParseInt(strings.TrimSpace(strings.Trim(string(head[148:156]), "\x00 ")), 8, 64)
	return err == nil && want == sum
}
