package build

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// recordingCache notes the inUse it was pruned with and frees a fixed count.
type recordingCache struct {
	got    [][]v1.Hash
	called bool
}

func (c *recordingCache) PruneCache(_ context.Context, inUse [][]v1.Hash) (int64, error) {
	c.got, c.called = inUse, true
	return 100, nil
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	used := [][]v1.Hash{{{Algorithm: "sha256", Hex: "aa"}}}
	tests := []struct {
		name      string
		all, busy bool
		wantInUse [][]v1.Hash
		wantFreed int64
		wantKept  bool // the step cache, mounts and last-build records
	}{
		{name: "unused only", wantInUse: used, wantFreed: 100, wantKept: true},
		{name: "all", all: true, wantInUse: nil, wantFreed: 100 + 3*5},
		{name: "a build is running", busy: true, wantKept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			for _, d := range []string{"cache/ab", "mounts/m", "last"} {
				os.MkdirAll(filepath.Join(state, d), 0o755)
				os.WriteFile(filepath.Join(state, d, "f.json"), []byte("12345"), 0o644)
			}
			if u := StateUsage(state); u.Records != 1 || u.Size != 15 {
				t.Fatalf("usage: %+v", u)
			}
			if tt.busy {
				unlock, err := LockState(state)
				if err != nil {
					t.Fatal(err)
				}
				defer unlock()
			}
			c := &recordingCache{}
			rep, err := Prune(ctx, state, PruneOptions{All: tt.all, InUse: used, Caches: []Cache{c}})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Busy != tt.busy || rep.Reclaimed != tt.wantFreed || c.called == tt.busy || !reflect.DeepEqual(c.got, tt.wantInUse) {
				t.Fatalf("report %+v, cache called %v with %v", rep, c.called, c.got)
			}
			if kept := StateUsage(state).Size == 15; kept != tt.wantKept {
				t.Fatalf("state kept = %v, want %v", kept, tt.wantKept)
			}
		})
	}
}
