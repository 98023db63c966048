package store

import (
	"archive/tar"
	"bytes"
	"context"
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
