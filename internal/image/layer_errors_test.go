package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/berth-dev/berth/internal/testenv"
)

// TestWriteLayerErrors: import's refusals name the entry without repeating
// an untrusted name in full, and a cut compressed root filesystem is named
// truncated, in which compression.
func TestWriteLayerErrors(t *testing.T) {
	long := strings.Repeat("y", 20<<10)
	rootfs := func(names ...string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, n := range names {
			body := bytes.Repeat([]byte(n[:1]), 64<<10)
			tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), Format: tar.FormatPAX})
			tw.Write(body)
		}
		tw.Close()
		return buf.Bytes()
	}
	plain := rootfs("a", "b", "c", "d")
	with := func(newW func(io.Writer) (io.WriteCloser, error)) func([]byte) []byte {
		return func(b []byte) []byte {
			var o bytes.Buffer
			w, err := newW(&o)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(b)
			w.Close()
			return o.Bytes()
		}
	}
	compressed := map[Compression]func([]byte) []byte{
		Gzip: with(func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriter(w), nil }),
		Zstd: with(func(w io.Writer) (io.WriteCloser, error) { return zstd.NewWriter(w) }),
		Xz:   with(func(w io.Writer) (io.WriteCloser, error) { return xz.NewWriter(w) }),
		Bzip2: func(b []byte) []byte {
			// Go has no bzip2 writer: Debian's bzip2 (a peer; missing, it
			// fails under BERTH_REQUIRE_PEERS rather than skipping).
			cmd := exec.Command(testenv.Peer(t, "bzip2"), "-c")
			cmd.Stdin = bytes.NewReader(b)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bzip2: %v", err)
			}
			return out
		},
	}
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"long dotdot name", rootfs(long + "/../../x"), "escapes the root"},
		{"long name under a symlink", func() []byte {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc", Format: tar.FormatPAX})
			tw.WriteHeader(&tar.Header{Name: "l/" + long[:200] + "/" + long[:250], Typeflag: tar.TypeReg, Format: tar.FormatPAX})
			tw.Close()
			return buf.Bytes()
		}(), "is not a directory inside the layer"},
		{"truncated tar", plain[:len(plain)/2], "the input is truncated: the tar data ends"},
	}
	for c, z := range compressed {
		b := z(plain)
		cases = append(cases, struct {
			name string
			in   []byte
			want string
		}{"truncated " + string(c), b[:len(b)/2], "the input is truncated: the " + string(c) + " stream ends early"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc, _, err := Decompress(bytes.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			_, err = WriteLayer(context.Background(), rc, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %.300v, want one saying %q", err, tc.want)
			}
			if len(err.Error()) > 700 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is %d bytes: %.300s…", len(err.Error()), err)
			}
		})
	}
}
