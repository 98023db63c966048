package remote

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/fsutil"
)

func TestPrunePartial(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"sha256-aa", "sha256-bb"} {
		if err := os.WriteFile(filepath.Join(dir, n), make([]byte, 1000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A pull continuing sha256-bb holds its lock.
	unlock, ok, err := fsutil.TryLock(filepath.Join(dir, "sha256-bb"))
	if err != nil || !ok {
		t.Fatal(err)
	}
	defer unlock()
	if n := PartialSize(dir); n != 2000 {
		t.Fatalf("size %d", n)
	}
	if freed := PrunePartial(dir); freed != 1000 {
		t.Fatalf("freed %d, want 1000", freed)
	}
	if _, err := os.Stat(filepath.Join(dir, "sha256-bb")); err != nil {
		t.Fatal("a download being continued was removed")
	}
	if _, err := os.Stat(filepath.Join(dir, "sha256-aa")); !os.IsNotExist(err) {
		t.Fatal("an abandoned download was kept")
	}
}
