package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
)

// fuzzTars are seeds for the tar parsers: ordinary entries, and each kind
// of entry that tries to leave the root.
func fuzzTars(t testing.TB) [][]byte {
	mk := func(ents ...hostileEntry) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range ents {
			h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, ModTime: time.Unix(1e9, 0)}
			if h.Typeflag == 0 {
				h.Typeflag = tar.TypeReg
			}
			if h.Typeflag == tar.TypeReg {
				h.Size = int64(len(e.body))
			}
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
			tw.WriteHeader(h)
			tw.Write([]byte(e.body))
		}
		tw.Close()
		return buf.Bytes()
	}
	ok := mk(hostileEntry{name: "Dockerfile", body: "FROM scratch\n"}, hostileEntry{name: "src/", typ: tar.TypeDir},
		hostileEntry{name: "src/a.go", body: "package a"}, hostileEntry{name: "l", typ: tar.TypeSymlink, link: "src/a.go"},
		hostileEntry{name: "h", typ: tar.TypeLink, link: "src/a.go"})
	return [][]byte{
		ok,
		testenv.Gzip(t, ok),
		mk(hostileEntry{name: "../escaped", body: "x"}),
		mk(hostileEntry{name: "/abs", body: "x"}),
		mk(hostileEntry{name: "d", typ: tar.TypeSymlink, link: "/"}, hostileEntry{name: "d/etc/x", body: "x"}),
		mk(hostileEntry{name: "d", typ: tar.TypeSymlink, link: "../.."}, hostileEntry{name: "d/x", body: "x"}),
		mk(hostileEntry{name: "h", typ: tar.TypeLink, link: "../victim"}),
		mk(hostileEntry{name: "x", typ: tar.TypeSymlink, link: "/etc/passwd"}, hostileEntry{name: "x", body: "pwned"}),
		mk(hostileEntry{name: "a/", typ: tar.TypeDir}, hostileEntry{name: "a", body: "file over dir"}),
	}
}

// noEscape checks that nothing but dir was made in its parent, and that no
// link inside dir was written through: the host files beside it are intact.
func noEscape(t *testing.T, parent, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		if e.Name() != filepath.Base(dir) && e.Name() != "victim" {
			t.Fatalf("the archive created %s outside its directory", e.Name())
		}
	}
	if b, err := os.ReadFile(filepath.Join(parent, "victim")); err != nil || string(b) != "host" {
		t.Fatalf("a host file beside the directory changed: %q %v", b, err)
	}
}

// FuzzReadContext is the build context read from stdin or a URL
// (`berth build - < ctx.tar.gz`, `berth build https://…/ctx.tar`): the
// bytes are decompressed as found, and a tar is unpacked with Unpack.
// Whatever they hold, nothing may be written outside the directory.
func FuzzReadContext(f *testing.F) {
	for _, s := range fuzzTars(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		os.WriteFile(filepath.Join(parent, "victim"), []byte("host"), 0o644)
		dir := filepath.Join(parent, "context")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_, _, _ = ReadContext(context.Background(), bytes.NewReader(data), dir, 1<<20)
		noEscape(t, parent, dir)
	})
}
