package registry

import (
	"context"
	"sync"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// statFlights coalesces concurrent Stats of one key without ever answering
// a caller from a Stat that began before it arrived: a caller joins the
// next Stat to start, never one already on its way. The callers that arrive
// while one Stat is in flight share the single Stat that follows it, so a
// hot tag costs an object store about one request per round trip instead of
// one per GET, and a write that completed (on any replica) before a GET
// arrived is still seen by that GET — the revalidation stays exact, which a
// cache with a time to live would not be.
type statFlights struct {
	mu sync.Mutex
	m  map[string]*statFlight // the Stat in flight per key
}

type statFlight struct {
	done chan struct{}
	info storage.Info
	err  error
	next *statFlight // queued: starts when this one ends
}

func (f *statFlights) stat(ctx context.Context, d storage.Driver, key string) (storage.Info, error) {
	f.mu.Lock()
	if f.m == nil {
		f.m = map[string]*statFlight{}
	}
	cur := f.m[key]
	if cur == nil {
		// No Stat in flight: this caller makes it. It runs without the
		// caller's cancellation, as later callers may share it (the driver
		// bounds each request's time).
		fl := &statFlight{done: make(chan struct{})}
		f.m[key] = fl
		f.mu.Unlock()
		f.run(context.WithoutCancel(ctx), d, key, fl)
		return fl.info, fl.err
	}
	// One is in flight, begun before this caller came: join the next.
	if cur.next == nil {
		cur.next = &statFlight{done: make(chan struct{})}
	}
	fl := cur.next
	f.mu.Unlock()
	select {
	case <-fl.done:
		return fl.info, fl.err
	case <-ctx.Done():
		return storage.Info{}, context.Cause(ctx)
	}
}

// run does fl's Stat, then starts the flight queued behind it, if any, on
// a goroutine of its own so that fl's caller returns at once.
func (f *statFlights) run(ctx context.Context, d storage.Driver, key string, fl *statFlight) {
	fl.info, fl.err = d.Stat(ctx, key)
	f.mu.Lock()
	next := fl.next
	if next == nil {
		delete(f.m, key)
	} else {
		f.m[key] = next
	}
	f.mu.Unlock()
	close(fl.done)
	if next != nil {
		go f.run(context.WithoutCancel(ctx), d, key, next)
	}
}
