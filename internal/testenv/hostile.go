package testenv

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"
)

// TarEntry is one entry of a generated tar: a regular file (Body) unless
// Type says otherwise; Link is a symlink's target or a hard link's name.
type TarEntry struct {
	Name, Body, Link string
	Type             byte
}

// Tar writes ents as a tar, each entry as given (names are not cleaned:
// hostile ones stay hostile).
func Tar(t testing.TB, ents ...TarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Link, Mode: 0o644, ModTime: time.Unix(1e9, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		check(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(e.Body))
		check(t, err)
	}
	check(t, tw.Close())
	return buf.Bytes()
}

// HostileTars are the seeds every tar parser's fuzz target starts from
// (build contexts, ADD's untar, layers read by the unpacker, dive and
// scan, the layer checker of import): an ordinary tree, the same gzipped,
// and each kind of entry that tries to leave the root or that the
// unpacker refuses — so that one list, kept in one place, grows with every
// attack found.
func HostileTars(t testing.TB) [][]byte {
	t.Helper()
	ok := Tar(t, TarEntry{Name: "Dockerfile", Body: "FROM scratch\n"}, TarEntry{Name: "src/", Type: tar.TypeDir},
		TarEntry{Name: "src/a.go", Body: "package a"}, TarEntry{Name: "l", Type: tar.TypeSymlink, Link: "src/a.go"},
		TarEntry{Name: "h", Type: tar.TypeLink, Link: "src/a.go"})
	return [][]byte{
		ok,
		Gzip(t, ok),
		Tar(t, TarEntry{Name: "../escaped", Body: "x"}),
		Tar(t, TarEntry{Name: "/abs", Body: "x"}),
		Tar(t, TarEntry{Name: "d", Type: tar.TypeSymlink, Link: "/"}, TarEntry{Name: "d/etc/x", Body: "x"}),
		Tar(t, TarEntry{Name: "d", Type: tar.TypeSymlink, Link: "../.."}, TarEntry{Name: "d/x", Body: "x"}),
		Tar(t, TarEntry{Name: "h", Type: tar.TypeLink, Link: "../victim"}),
		Tar(t, TarEntry{Name: "h", Type: tar.TypeLink, Link: "missing"}),
		Tar(t, TarEntry{Name: "x", Type: tar.TypeSymlink, Link: "/etc/passwd"}, TarEntry{Name: "x", Body: "pwned"}),
		Tar(t, TarEntry{Name: "a/", Type: tar.TypeDir}, TarEntry{Name: "a", Body: "file over dir"}),
		Tar(t, TarEntry{Name: "a/.wh..wh..opq", Body: ""}, TarEntry{Name: ".wh.b", Body: ""}),
		Tar(t, TarEntry{Name: strings.Repeat("d/", 300) + "deep", Body: "x"}),
	}
}
