package store

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestContentSize: a layer's size as Docker's graph driver counts the
// unpacked files, for each kind of entry, plain, gzip and zstd.
func TestContentSize(t *testing.T) {
	type ent struct {
		name, link string
		typ        byte
		size       int
	}
	for _, tc := range []struct {
		name string
		ents []ent
		want int64
	}{
		{"files", []ent{{name: "a/", typ: tar.TypeDir}, {name: "a/x", size: 100}, {name: "b", size: 3}}, 103},
		{"symlink is its target's length", []ent{{name: "bin/sh", typ: tar.TypeSymlink, link: "busybox"}}, 7},
		{"hard link counts once", []ent{{name: "f", size: 50}, {name: "g", typ: tar.TypeLink, link: "f"}}, 50},
		{"rewritten name counts once", []ent{{name: "f", size: 50}, {name: "./f", size: 20}}, 20},
		{"whiteouts and devices nothing", []ent{{name: "a/.wh.x"}, {name: "a/.wh..wh..opq"}, {name: "dev/null", typ: tar.TypeChar}}, 0},
		{"empty", nil, 0},
	} {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, e := range tc.ents {
			typ := e.typ
			if typ == 0 {
				typ = tar.TypeReg
			}
			must(t, tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: typ, Linkname: e.link, Size: int64(e.size), Mode: 0o644}))
			_, err := tw.Write(make([]byte, e.size))
			must(t, err)
		}
		must(t, tw.Close())
		plain := b.Bytes()
		for _, c := range []struct {
			kind string
			blob []byte
			mt   types.MediaType
		}{{"plain", plain, types.OCIUncompressedLayer}, {"gzip", gz(t, plain), types.OCILayer}, {"zstd", zst(t, plain), types.OCILayerZStd}} {
			t.Run(tc.name+"/"+c.kind, func(t *testing.T) {
				s, err := Open(context.Background(), t.TempDir())
				must(t, err)
				defer s.Close()
				l := putLayer(t, s, c.blob, c.mt)
				for range 2 { // counted, then remembered
					if n, err := s.ContentSize(l); err != nil || n != tc.want {
						t.Fatalf("ContentSize = %d, %v; want %d", n, err, tc.want)
					}
				}
				if _, err := os.Stat(s.metaPath(l.Digest) + ".content"); err != nil {
					t.Errorf("the figure was not kept: %v", err)
				}
			})
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestContentSizeOfLargeUnreadLayer: a listing does not decompress a large
// compressed layer nothing has read (a fresh pull): the tar length stands
// in, and nothing is kept; the first read of the layer (OpenLayer, as
// build, dive and scan do) counts the files on the way, and from then on
// the figure is Docker's. A read that finds the layer corrupt keeps none.
func TestContentSizeOfLargeUnreadLayer(t *testing.T) {
	defer func(b int64) { contentCountBudget = b }(contentCountBudget)
	contentCountBudget = 64
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range []struct {
		name string
		size int
	}{{"a", 1000}, {"b", 24}} {
		must(t, tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Size: int64(f.size), Mode: 0o644}))
		_, err := tw.Write(bytes.Repeat([]byte{'x'}, f.size))
		must(t, err)
	}
	must(t, tw.Close())
	plain := b.Bytes()

	s, err := Open(context.Background(), t.TempDir())
	must(t, err)
	defer s.Close()
	l := putLayer(t, s, gz(t, plain), types.OCILayer)
	if n, err := s.ContentSize(l); err != nil || n != int64(len(plain)) {
		t.Fatalf("unread large layer: ContentSize = %d, %v; want the tar length %d", n, err, len(plain))
	}
	if _, err := os.Stat(s.metaPath(l.Digest) + ".content"); err == nil {
		t.Fatal("a stand-in figure was kept as the files' bytes")
	}

	// A read against the wrong diff ID keeps no figure.
	rc, err := s.OpenLayer(l, sha([]byte("other")))
	must(t, err)
	io.Copy(io.Discard, rc)
	if err := rc.Close(); err == nil {
		t.Fatal("a layer read against the wrong diff ID was accepted")
	}
	if _, err := os.Stat(s.metaPath(l.Digest) + ".content"); err == nil {
		t.Fatal("a figure was kept from a layer that failed verification")
	}

	// The first verified read counts.
	os.Remove(s.metaPath(l.Digest)) // forget the failed verdict's facts
	rc, err = s.OpenLayer(l, sha(plain))
	must(t, err)
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatal(err)
	}
	must(t, rc.Close())
	if n, err := s.ContentSize(l); err != nil || n != 1024 {
		t.Fatalf("after the first read: ContentSize = %d, %v; want 1024", n, err)
	}
}
