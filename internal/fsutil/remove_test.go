package fsutil_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/fsutil"
)

// RemoveAll removes any tree it is given, even one a plain os.RemoveAll
// cannot empty as its (non-root) owner.
func TestRemoveAll(t *testing.T) {
	cases := []struct {
		name string
		make func(t *testing.T, root string)
	}{
		{"missing", func(t *testing.T, root string) {}},
		{"plain-tree", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "a", "b"), 0o755)
			write(t, filepath.Join(root, "a", "b", "f"))
		}},
		// A directory nobody may read or enter, as a layer may ship it.
		{"unreadable-dirs", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "locked", "inner"), 0o755)
			write(t, filepath.Join(root, "locked", "inner", "f"))
			chmod(t, filepath.Join(root, "locked", "inner"), 0)
			chmod(t, filepath.Join(root, "locked"), 0)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "tree")
			tc.make(t, root)
			if err := fsutil.RemoveAll(root); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(root); !os.IsNotExist(err) {
				t.Fatalf("%s still there: %v", root, err)
			}
		})
	}
}

func mkdir(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(p, mode); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}
