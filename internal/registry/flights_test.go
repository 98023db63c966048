package registry

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// gatedDriver answers Stat with the ETag "v<version>" as it stands when the
// Stat begins, each Stat held until the test lets it go.
type gatedDriver struct {
	storage.Driver
	version atomic.Int64
	stats   atomic.Int64
	begun   chan struct{}
	release chan struct{}
}

func (g *gatedDriver) Stat(ctx context.Context, key string) (storage.Info, error) {
	g.stats.Add(1)
	v := g.version.Load()
	g.begun <- struct{}{}
	<-g.release
	return storage.Info{Key: key, ETag: "v" + itoa(v)}, nil
}

// TestStatFlights: callers that arrive while a Stat is in flight share the
// one Stat after it, and never get the answer of the Stat that began
// before they arrived — a version written meanwhile is seen.
func TestStatFlights(t *testing.T) {
	g := &gatedDriver{begun: make(chan struct{}, 100), release: make(chan struct{})}
	var f statFlights
	ctx := context.Background()
	first := make(chan storage.Info)
	go func() { info, _ := f.stat(ctx, g, "k"); first <- info }()
	<-g.begun // the first Stat is in flight, at version 0
	g.version.Store(1)
	const late = 20
	var wg sync.WaitGroup
	got := make([]string, late)
	for i := range late {
		wg.Add(1)
		go func() { defer wg.Done(); info, _ := f.stat(ctx, g, "k"); got[i] = info.ETag }()
	}
	// Let the joiners queue, then end the first Stat.
	time.Sleep(50 * time.Millisecond)
	g.release <- struct{}{}
	if info := <-first; info.ETag != "v0" {
		t.Fatalf("first caller: %q", info.ETag)
	}
	<-g.begun // the one Stat the late callers share
	g.release <- struct{}{}
	wg.Wait()
	for i, e := range got {
		if e != "v1" {
			t.Errorf("late caller %d got %q, want v1 (a Stat begun after it arrived)", i, e)
		}
	}
	if n := g.stats.Load(); n != 2 {
		t.Errorf("%d Stats for 1+%d callers, want 2", n, late)
	}
	// A cancelled waiter leaves; the flight still answers the others.
	go func() { f.stat(ctx, g, "k") }()
	<-g.begun
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() { _, err := f.stat(cctx, g, "k"); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-errc; err == nil {
		t.Error("a cancelled caller got no error")
	}
	g.release <- struct{}{}
	<-g.begun
	g.release <- struct{}{}
}
