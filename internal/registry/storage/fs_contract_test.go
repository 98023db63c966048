package storage_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/registry/storage/storagetest"
)

// TestFSContract runs the driver contract on the filesystem driver; the S3
// driver runs the same suite against SeaweedFS.
func TestFSContract(t *testing.T) {
	fs, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Run(t, fs, storagetest.Options{})
}

func TestFSLock(t *testing.T) {
	fs, _ := NewFS(t.TempDir())
	ctx := context.Background()
	un1, err := fs.Lock(ctx, "gc", false)
	if err != nil {
		t.Fatal(err)
	}
	un2, err := fs.Lock(ctx, "gc", false) // shared locks coexist
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		un, err := fs.Lock(ctx, "gc", true)
		if err == nil {
			un()
		}
		close(got)
	}()
	time.Sleep(50 * time.Millisecond) // give the goroutine time to try
	select {
	case <-got:
		t.Fatal("exclusive lock taken while shared locks are held")
	default:
	}
	un1()
	un2()
	<-got
	if _, err := fs.Lock(ctx, "../x", true); err == nil {
		t.Fatal("lock name with a path accepted")
	}
}

func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/./b", ".x", "blobs/sha256/ab/abcd", "a\x00b", "0.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !ValidKey(key) {
			return
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "" || seg == "." || seg == ".." || seg[0] == '.' || strings.ContainsAny(seg, "\x00\\") {
				t.Fatalf("accepted %q", key)
			}
		}
		if filepath.Clean("/"+key) != "/"+key {
			t.Fatalf("accepted unclean %q", key)
		}
	})
}
