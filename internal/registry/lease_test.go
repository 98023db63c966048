package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// lockless is a driver that can do conditional writes but has no locks,
// as an object store shared by replicas: GC must use the lease.
type lockless struct{ storage.Driver }

// noConditions also ignores conditions, as some S3-compatible stores do.
type noConditions struct{ storage.Driver }

func (n noConditions) Put(ctx context.Context, key string, r io.Reader, _ storage.Cond) (storage.Info, error) {
	return n.Driver.Put(ctx, key, r, storage.Cond{})
}

// garbage pushes n blobs into repo and deletes their links, so that a GC
// with no delay may sweep them.
func garbage(t *testing.T, tr *testRegistry, n int) []string {
	t.Helper()
	var ds []string
	for i := 0; i < n; i++ {
		d := tr.pushBlob("junk/app", []byte(fmt.Sprintf("garbage %d", i)))
		if r := tr.do("DELETE", "/v2/junk/app/blobs/"+d, nil); r.code != 202 {
			t.Fatalf("delete link: %d", r.code)
		}
		ds = append(ds, d)
	}
	return ds
}

func TestGCRefusedWithoutConditionalWrites(t *testing.T) {
	fs, _ := storage.NewFS(t.TempDir())
	_, err := GC(context.Background(), noConditions{fs}, GCOptions{})
	if !errors.Is(err, ErrNoLease) {
		t.Fatalf("GC on a store without locks or conditional writes: %v", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("conditional writes")) {
		t.Fatalf("unclear error: %v", err)
	}
}

func TestGCLease(t *testing.T) {
	ctx := context.Background()
	fs, _ := storage.NewFS(t.TempDir())
	drv := lockless{fs}
	tr := newTestRegistry(t, Options{Driver: drv})
	ds := garbage(t, tr, 5)
	ttl := 600 * time.Millisecond

	t.Run("one collector at a time", func(t *testing.T) {
		other, err := tr.s.acquireLease(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := GC(ctx, drv, GCOptions{LeaseTTL: ttl}); !errors.Is(err, ErrGCRunning) {
			t.Fatalf("second collector: %v", err)
		}
		other.release()
	})

	t.Run("a lost lease stops the sweep", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := GC(ctx, drv, GCOptions{LeaseTTL: ttl})
			done <- err
		}()
		// Steal the lease while the collector waits to delete.
		for {
			doc, _, err := tr.s.readLease(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if doc.State == "deleting" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		b, _ := json.Marshal(leaseDoc{Holder: "thief", State: "marking", Expires: time.Now().Add(time.Minute)})
		if _, err := drv.Put(ctx, leaseKey, bytes.NewReader(b), storage.Cond{}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("collector after losing the lease: %v", err)
		}
		for _, d := range ds {
			if r := tr.do("GET", "/v2/junk/app/blobs/"+d, nil); r.code != 404 { // unlinked, but...
				t.Fatalf("blob %s: %d", d, r.code)
			}
			if _, err := fs.Stat(ctx, blobKeyOf(t, d)); err != nil {
				t.Fatalf("blob %s deleted after the lease was lost: %v", d, err)
			}
		}
		// The thief's lease expires; then a collection runs to the end.
		b, _ = json.Marshal(leaseDoc{Holder: "thief", State: "idle", Expires: time.Now()})
		drv.Put(ctx, leaseKey, bytes.NewReader(b), storage.Cond{})
	})

	t.Run("held to the end, it sweeps", func(t *testing.T) {
		res, err := GC(ctx, drv, GCOptions{LeaseTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, it := range res.Items {
			if it.Kind == "blob" {
				n++
			}
		}
		if n != len(ds) {
			t.Fatalf("swept %d blobs, want %d: %+v", n, len(ds), res.Items)
		}
		if doc, _, _ := tr.s.readLease(ctx); doc.State != "idle" {
			t.Fatalf("lease left %+v", doc)
		}
	})
}

func blobKeyOf(t *testing.T, ds string) string {
	d, ok := parseDigest(ds)
	if !ok {
		t.Fatalf("bad digest %s", ds)
	}
	return blobKey(d)
}
