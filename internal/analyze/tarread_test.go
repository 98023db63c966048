package analyze

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/berth-dev/berth/internal/analyze/imagetest"
	"github.com/berth-dev/berth/internal/testenv"
)

type seen struct {
	Name, Link string
	Mode       os.FileMode
	Type       byte
	Size       int64
	UID, GID   int
	Hash       uint64
}

func readStd(data []byte) ([]seen, error) {
	tr := tar.NewReader(bytes.NewReader(data))
	var out []seen
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		d := xxhash.New()
		if _, err := io.Copy(d, tr); err != nil {
			return out, err
		}
		out = append(out, seen{h.Name, h.Linkname, h.FileInfo().Mode(), h.Typeflag, h.Size, h.Uid, h.Gid, d.Sum64()})
	}
}

func readOurs(data []byte) ([]seen, error) {
	tr := newTarReader(bytes.NewReader(data))
	var out []seen
	for {
		e, err := tr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		d := xxhash.New()
		if _, err := io.Copy(d, tr); err != nil {
			return out, err
		}
		out = append(out, seen{e.Name, e.Linkname, fileMode(e.Type, e.Mode), e.Type, e.Size, e.UID, e.GID, d.Sum64()})
	}
}

func compareReaders(t *testing.T, data []byte, mustAgree bool) {
	t.Helper()
	want, werr := readStd(data)
	got, gerr := readOurs(data)
	if werr != nil || gerr != nil {
		if mustAgree && (werr == nil) != (gerr == nil) {
			t.Fatalf("archive/tar err %v, ours %v", werr, gerr)
		}
		return
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries differ:\n ours %+v\n  std %+v", got, want)
	}
}

func tarFormats(t testing.TB) map[string][]byte {
	t.Helper()
	long := strings.Repeat("d/", 80) + "file-with-a-long-name"
	out := map[string][]byte{}
	for _, f := range []tar.Format{tar.FormatUSTAR, tar.FormatPAX, tar.FormatGNU} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		hdrs := []*tar.Header{
			{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "dir/file", Typeflag: tar.TypeReg, Size: 1500, Mode: 0o644, Uid: 1000, Gid: 1000},
			{Name: "dir/link", Typeflag: tar.TypeSymlink, Linkname: "file"},
			{Name: "dir/hard", Typeflag: tar.TypeLink, Linkname: "dir/file"},
			{Name: "dir/.wh.gone", Typeflag: tar.TypeReg},
			{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		}
		if f != tar.FormatUSTAR {
			hdrs = append(hdrs,
				&tar.Header{Name: long, Typeflag: tar.TypeReg, Size: 3},
				&tar.Header{Name: "l2", Typeflag: tar.TypeSymlink, Linkname: long},
				&tar.Header{Name: "big-uid", Typeflag: tar.TypeReg, Uid: 1 << 30, Gid: 3 << 28},
			)
		} else {
			hdrs = append(hdrs, &tar.Header{Name: strings.Repeat("p/", 60) + "x", Typeflag: tar.TypeReg, Size: 2})
		}
		for _, h := range hdrs {
			h.Format = f
			if err := tw.WriteHeader(h); err != nil {
				t.Fatalf("%v %s: %v", f, h.Name, err)
			}
			if h.Typeflag == tar.TypeReg {
				tw.Write(bytes.Repeat([]byte{'a'}, int(h.Size)))
			}
		}
		tw.Close()
		out[f.String()] = buf.Bytes()
	}
	return out
}

func TestTarReaderMatchesArchiveTar(t *testing.T) {
	for name, data := range tarFormats(t) {
		t.Run(name, func(t *testing.T) { compareReaders(t, data, true) })
	}
	t.Run("imagetest", func(t *testing.T) { compareReaders(t, tarOf(t, imagetest.Waste()[1].Files), true) })
	t.Run("truncated", func(t *testing.T) {
		data := tarFormats(t)["PAX"]
		// Cut mid-block: a cut on a block boundary is a clean end for archive/tar too.
		for _, n := range []int{100, 700, 2000, len(data) - 1100} {
			if _, err := readOurs(data[:n]); err == nil {
				t.Errorf("no error at %d bytes", n)
			}
		}
	})
	t.Run("bad checksum", func(t *testing.T) {
		data := append([]byte(nil), tarFormats(t)["USTAR"]...)
		data[0] ^= 1
		if _, err := readOurs(data); !errors.Is(err, errBadHeader) {
			t.Errorf("err = %v", err)
		}
	})
}

// FuzzTarReaderMatchesArchiveTar checks the lean reader against the
// standard library: where both read an input, they must see the same
// entries, and the lean reader must never panic.
func FuzzTarReaderMatchesArchiveTar(f *testing.F) {
	for _, s := range testenv.HostileTars(f) {
		f.Add(s)
	}
	for _, data := range tarFormats(f) {
		f.Add(data)
	}
	f.Add(tarOf(f, imagetest.Waste()[2].Files))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		compareReaders(t, data, false)
	})
}
