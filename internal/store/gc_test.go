package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestGCBesideNewWriters: a collection running while other processes (here
// stores with their own leases) start writing never takes a temp file from
// under its writer, whatever the moment the writer's lease appears.
func TestGCBesideNewWriters(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	gc, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	errs := make(chan error, 8)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// A fresh store is a fresh lease, as each berth process has.
				s, err := Open(ctx, root)
				if err != nil {
					errs <- err
					return
				}
				bw, err := s.NewBlobWriter()
				if err == nil {
					bw.Write(bytes.Repeat([]byte(fmt.Sprint(w, i)), 1000))
					_, _, err = bw.Commit(v1.Hash{})
				}
				s.Close()
				if err != nil {
					errs <- err
					return
				}
				writes.Add(1)
			}
		}()
	}
	var gcs int
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && len(errs) == 0 {
		if _, err := gc.GC(ctx); err != nil {
			t.Fatal(err)
		}
		gcs++
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d writes beside %d collections", writes.Load(), gcs)
}
