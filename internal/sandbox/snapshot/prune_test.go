package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestPruneCache(t *testing.T) {
	ctx := context.Background()
	a := mkTar(t, []entry{{name: "a", typ: tar.TypeReg, mode: 0o644, body: "aaaa"}})
	b := mkTar(t, []entry{{name: "b", typ: tar.TypeReg, mode: 0o644, body: "bbbbbbbb"}})
	tests := []struct {
		name       string
		inUse      [][]v1.Hash
		left       []v1.Hash
		wantFreed  int64
		wantLayers int
	}{
		{"keeps what images use", [][]v1.Hash{{hashOf(a)}}, []v1.Hash{hashOf(a)}, 8, 1},
		{"nil removes all", nil, nil, 12, 0},
		{"no image removes all", [][]v1.Hash{}, nil, 12, 0},
		{"all in use", [][]v1.Hash{{hashOf(b)}, {hashOf(a), hashOf(b)}}, []v1.Hash{hashOf(a), hashOf(b)}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range [][]byte{a, b} {
				if _, err := s.Unpack(ctx, hashOf(l), bytes.NewReader(l)); err != nil {
					t.Fatal(err)
				}
			}
			if n, size := s.Usage(); n != 2 || size != 12 {
				t.Fatalf("usage before: %d layers, %d bytes", n, size)
			}
			freed, err := s.PruneCache(ctx, tt.inUse)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := s.Usage(); freed != tt.wantFreed || n != tt.wantLayers {
				t.Fatalf("freed %d, %d layers left; want %d, %d", freed, n, tt.wantFreed, tt.wantLayers)
			}
			for _, h := range tt.left {
				if _, ok := s.Lookup(h); !ok {
					t.Errorf("%s removed", h)
				}
			}
		})
	}
}
