package scan

import (
	"context"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestCacheFilePrune(t *testing.T) {
	a, b := v1.Hash{Algorithm: "sha256", Hex: "aa"}, v1.Hash{Algorithm: "sha256", Hex: "bb"}
	chains := ChainIDs([]string{a.String(), b.String()}) // a, then a+b
	other := ChainIDs([]string{b.String()})[0]           // b alone
	tests := []struct {
		name  string
		inUse [][]v1.Hash
		left  []string
	}{
		{"keeps the image's stacks", [][]v1.Hash{{a, b}}, []string{chains[0], chains[1]}},
		{"a lower stack alone", [][]v1.Hash{{a}}, []string{chains[0]}},
		{"the same layer on another base is another stack", [][]v1.Hash{{b}}, []string{other}},
		{"nil removes all", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "layers.db")
			c, err := OpenCache(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range append(chains, other) {
				if err := c.put("v1 exts "+ch, &layerRecord{}); err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			if _, err := CacheFile(path).PruneCache(context.Background(), tt.inUse); err != nil {
				t.Fatal(err)
			}
			if c, err = OpenCache(path); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, ch := range append(chains, other) {
				_, ok := c.get("v1 exts " + ch)
				want := false
				for _, l := range tt.left {
					want = want || l == ch
				}
				if ok != want {
					t.Errorf("chain %s kept = %v, want %v", ch, ok, want)
				}
			}
		})
	}
}
