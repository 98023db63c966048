package snapshot

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Usage reports how many layers are unpacked and the bytes they take.
func (s *Store) Usage() (layers int, size int64) {
	entries, err := os.ReadDir(filepath.Join(s.root, "sha256"))
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		if e.IsDir() {
			layers++
		}
	}
	return layers, fsutil.TreeSize(s.root)
}

// Layer is one unpacked layer, as the build cache's records list it.
type Layer struct {
	DiffID   v1.Hash
	Size     int64
	Unpacked time.Time
}

// Layers lists the unpacked layers.
func (s *Store) Layers() []Layer {
	entries, err := os.ReadDir(filepath.Join(s.root, "sha256"))
	if err != nil {
		return nil
	}
	var out []Layer
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		out = append(out, Layer{DiffID: v1.Hash{Algorithm: "sha256", Hex: e.Name()},
			Size: fsutil.TreeSize(filepath.Join(s.root, "sha256", e.Name())), Unpacked: fi.ModTime()})
	}
	return out
}

// PruneCache removes every unpacked layer that no image of inUse (lists of
// diff IDs) has; nil inUse removes them all. It reports the bytes freed. The
// caller makes sure no build is running (the build cache's lock).
func (s *Store) PruneCache(ctx context.Context, inUse [][]v1.Hash) (int64, error) {
	used := map[string]bool{}
	for _, ids := range inUse {
		for _, d := range ids {
			used[d.Hex] = true
		}
	}
	entries, err := os.ReadDir(filepath.Join(s.root, "sha256"))
	if err != nil {
		return 0, nil
	}
	var freed int64
	for _, e := range entries {
		if !e.IsDir() || used[e.Name()] {
			continue
		}
		n := fsutil.TreeSize(filepath.Join(s.root, "sha256", e.Name()))
		if err := s.Remove(ctx, v1.Hash{Algorithm: "sha256", Hex: e.Name()}); err != nil {
			return freed, err
		}
		freed += n
	}
	return freed, nil
}
