package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFSDeleteLeavesNothing: deleting a conditionally written object removes
// its lock file and the directories it leaves empty.
func TestFSDeleteLeavesNothing(t *testing.T) {
	ctx := context.Background()
	d, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(ctx, "up/s1/state.json", bytes.NewReader([]byte("{}")), Cond{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(ctx, "up/s1/deep/part", bytes.NewReader([]byte("x")), Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(ctx, "up/s2/part", bytes.NewReader([]byte("x")), Cond{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"up/s1/deep/part", "up/s1/state.json"} {
		if err := d.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(d.Root(), "up"))
	if len(entries) != 1 || entries[0].Name() != "s2" {
		t.Fatalf("up/ holds %v, want only s2", entries)
	}
	// The top-level directory stays even when it empties.
	d.Delete(ctx, "up/s2/part")
	if _, err := os.Stat(filepath.Join(d.Root(), "up")); err != nil {
		t.Fatal(err)
	}
}

// TestFSLockFilesStayExclusive: lock files vanish with their objects while
// other writers wait on them; create-if-absent must still admit one writer
// at a time, and writes into directories being pruned must not fail.
func TestFSLockFilesStayExclusive(t *testing.T) {
	ctx := context.Background()
	d, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var owners, created atomic.Int32
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Second)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				_, err := d.Put(ctx, "s/x/state", bytes.NewReader([]byte("1")), Cond{IfNoneMatch: true})
				if errors.Is(err, ErrPrecondition) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				created.Add(1)
				if owners.Add(1) != 1 {
					t.Error("two writers created the same object at once")
				}
				owners.Add(-1)
				if err := d.Delete(ctx, "s/x/state"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if created.Load() < 10 {
		t.Fatalf("only %d creations in a second", created.Load())
	}
	t.Logf("%d create/delete cycles", created.Load())
}
