package image

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// bzip2Hello is `printf 'hello\n' | bzip2` (Go has no bzip2 writer).
var bzip2Hello = []byte{0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59, 0xc1, 0xc0, 0x80, 0xe2, 0x00, 0x00, 0x01, 0x41, 0x00, 0x00, 0x10, 0x02, 0x44, 0xa0, 0x00, 0x30, 0xcd, 0x00, 0xc3, 0x46, 0x29, 0x97, 0x17, 0x72, 0x45, 0x38, 0x50, 0x90, 0xc1, 0xc0, 0x80, 0xe2}

func gzipOf(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zstdOf(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func xzOf(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw, err := xz.WriterConfig{DictCap: 1 << 20}.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// zstdWindow is a zstd frame whose header asks for a window of 1<<log
// bytes, holding data as one raw block (RFC 8878 section 3.1.1).
func zstdWindow(log int, data []byte) []byte {
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte(log-10) << 3}
	h := uint32(len(data))<<3 | 1 // raw block, last
	out = append(out, byte(h), byte(h>>8), byte(h>>16))
	return append(out, data...)
}

// xzDict rewrites the LZMA2 dictionary size of an xz stream's first block
// header (and its CRC32) to props, as a hostile file would declare it.
func xzDict(t testing.TB, stream []byte, props byte) []byte {
	s := append([]byte(nil), stream...)
	hdr := s[12:]
	size := (int(hdr[0]) + 1) * 4
	// Block flags 0, no sizes: filter id 0x21, props size 1, props byte.
	if hdr[1]&0xc0 != 0 || hdr[2] != 0x21 || hdr[3] != 1 {
		t.Fatalf("unexpected block header % x", hdr[:size])
	}
	hdr[4] = props
	binary.LittleEndian.PutUint32(hdr[size-4:], crc32.ChecksumIEEE(hdr[:size-4]))
	return s
}

func TestDecompress(t *testing.T) {
	plain := []byte("hello\n")
	for _, tc := range []struct {
		name string
		in   []byte
		want Compression
	}{
		{"plain", plain, Uncompressed},
		{"gzip", gzipOf(t, plain), Gzip},
		{"zstd", zstdOf(t, plain), Zstd},
		{"bzip2", bzip2Hello, Bzip2},
		{"xz", xzOf(t, plain), Xz},
		{"zstd 128 MiB window", zstdWindow(27, plain), Zstd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := DetectCompression(tc.in); c != tc.want {
				t.Errorf("DetectCompression = %s, want %s", c, tc.want)
			}
			rc, c, err := Decompress(bytes.NewReader(tc.in))
			if err != nil || c != tc.want {
				t.Fatalf("Decompress: %s, %v", c, err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("read %q, %v", got, err)
			}
		})
	}
	if rc, c, err := Decompress(bytes.NewReader(nil)); err != nil || c != Uncompressed {
		t.Errorf("empty input: %s, %v", c, err)
	} else {
		rc.Close()
	}
}

// A stream that asks for more decoder memory than the bounds is refused
// before the memory is taken: zstd windows above 128 MiB (zstd --long's
// maximum), xz dictionaries above 128 MiB.
func TestDecompressBounds(t *testing.T) {
	xz256 := xzDict(t, xzOf(t, []byte("hello\n")), 32) // 2<<(32/2+11) = 256 MiB
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"zstd 256 MiB window", zstdWindow(28, []byte("hello\n"))},
		{"zstd 2 GiB window", zstdWindow(31, []byte("hello\n"))},
		{"xz 256 MiB dictionary", xz256},
		{"xz invalid dictionary", xzDict(t, xzOf(t, []byte("x")), 41)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, _, err := Decompress(bytes.NewReader(tc.in))
			if err == nil {
				_, err = io.ReadAll(rc)
				rc.Close()
			}
			if !errors.Is(err, ErrTooMuchMemory) {
				t.Fatalf("err = %v, want ErrTooMuchMemory", err)
			}
		})
	}
	if d := lzma2DictSize(32); d != 256<<20 {
		t.Errorf("lzma2DictSize(32) = %d", d)
	}
	if d := lzma2DictSize(0); d != 4<<10 {
		t.Errorf("lzma2DictSize(0) = %d", d)
	}
}

func TestLooksLikeTar(t *testing.T) {
	var ustar bytes.Buffer
	tw := tar.NewWriter(&ustar)
	tw.WriteHeader(&tar.Header{Name: "a", Mode: 0o644, Size: 1, Format: tar.FormatUSTAR})
	tw.Write([]byte("x"))
	tw.Close()
	v7 := append([]byte(nil), ustar.Bytes()[:512]...)
	copy(v7[257:265], make([]byte, 8)) // drop the magic and version
	var sum int64
	for i, c := range v7 {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	copy(v7[148:156], []byte(string(append([]byte(padOctal(sum)), 0, ' '))))
	for _, tc := range []struct {
		name string
		head []byte
		want bool
	}{
		{"ustar", ustar.Bytes(), true},
		{"v7", v7, true},
		{"short", ustar.Bytes()[:100], false},
		{"text", bytes.Repeat([]byte("FROM scratch\n"), 50), false},
		{"zeros", make([]byte, 512), false},
	} {
		if got := LooksLikeTar(tc.head); got != tc.want {
			t.Errorf("%s: LooksLikeTar = %v", tc.name, got)
		}
	}
}

func padOctal(n int64) string {
	s := []byte("000000")
	for i := 5; i >= 0; i-- {
		s[i] = byte('0' + n%8)
		n /= 8
	}
	return string(s)
}
