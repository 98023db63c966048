package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// The GC lease, for storage without locks (an object store shared by
// replicas). One object, written only with conditional writes:
//
//	gc/lease.json  {"holder", "state": "marking"|"deleting"|"idle", "expires"}
//
// A collector takes the lease (If-None-Match, or If-Match over an expired
// or idle one), renews it every third of its TTL, and stops the moment a
// renewal fails: another may have taken it. Pushes never hold it: before
// the short step that makes a blob or manifest reachable (link, tag,
// manifest commit) they read it, wait while a collector is deleting, and
// then finish that step within the fence time, TTL/2. A collector that
// enters the deleting state waits the settle time, 3/4 TTL, longer than
// any fence, before it marks again and deletes, so every step that began
// before it is in its marks, and every step that begins after waits for
// it. All parties must use the same TTL (--gc-lease-ttl, default 1m).
const leaseKey = "gc/lease.json"

// DefaultLeaseTTL is the GC lease's lifetime without renewal.
const DefaultLeaseTTL = time.Minute

// ErrLeaseLost ends a collection whose lease was taken over: it stopped
// before deleting anything more.
var ErrLeaseLost = errors.New("lost the GC lease to another collector; stopped sweeping")

// ErrNoLease: the storage can neither lock nor do the conditional writes a
// lease needs, so online GC would be unsafe.
var ErrNoLease = errors.New("online garbage collection needs a storage with locks or with conditional writes (If-None-Match / If-Match), and this one honours neither")

// ErrGCRunning: another collector holds the lease.
var ErrGCRunning = errors.New("another garbage collection holds the GC lease")

type leaseDoc struct {
	Holder  string    `json:"holder"`
	State   string    `json:"state"`
	Expires time.Time `json:"expires"`
}

func fenceTime(ttl time.Duration) time.Duration  { return ttl / 2 }
func settleTime(ttl time.Duration) time.Duration { return ttl * 3 / 4 }

func leaseTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return DefaultLeaseTTL
	}
	return ttl
}

// readLease returns the lease and its ETag; a missing lease is idle.
func (s *Server) readLease(ctx context.Context) (leaseDoc, string, error) {
	data, etag, err := s.readSmall(ctx, leaseKey, 64<<10)
	if errors.Is(err, storage.ErrNotFound) {
		return leaseDoc{State: "idle"}, "", nil
	}
	if err != nil {
		return leaseDoc{}, "", fmt.Errorf("reading the GC lease: %w", err)
	}
	var doc leaseDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		// A damaged lease is treated as expired and overwritten.
		return leaseDoc{State: "idle"}, etag, nil
	}
	return doc, etag, nil
}

// lease is a held GC lease.
type lease struct {
	mu   sync.Mutex // orders renewals and state changes
	s    *Server
	ttl  time.Duration
	doc  leaseDoc
	etag string
}

// acquireLease takes the lease, after checking that the storage really
// honours conditional writes (some S3-compatible stores ignore them, which
// would make the lease, and tag updates, unsafe).
func (s *Server) acquireLease(ctx context.Context, ttl time.Duration) (*lease, error) {
	if err := s.probeConditionalWrites(ctx); err != nil {
		return nil, err
	}
	cur, etag, err := s.readLease(ctx)
	if err != nil {
		return nil, err
	}
	if cur.State != "idle" && time.Now().Before(cur.Expires) {
		return nil, fmt.Errorf("%w (%s, until %s)", ErrGCRunning, cur.Holder, cur.Expires.Format(time.RFC3339))
	}
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	l := &lease{s: s, ttl: ttl, doc: leaseDoc{Holder: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:])), State: "marking"}, etag: etag}
	if err := l.write(ctx, l.doc.State); err != nil {
		if errors.Is(err, storage.ErrPrecondition) {
			return nil, fmt.Errorf("%w (taken just now by another)", ErrGCRunning)
		}
		return nil, err
	}
	return l, nil
}

func (s *Server) probeConditionalWrites(ctx context.Context) error {
	const probe = "gc/conditional-probe"
	if _, err := s.d.Put(ctx, probe, bytes.NewReader([]byte("1")), storage.Cond{}); err != nil {
		return fmt.Errorf("probing conditional writes: %w", err)
	}
	_, err := s.d.Put(ctx, probe, bytes.NewReader([]byte("2")), storage.Cond{IfNoneMatch: true})
	if errors.Is(err, storage.ErrPrecondition) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("probing conditional writes: %w", err)
	}
	return ErrNoLease
}

// write replaces the lease with state and a fresh expiry, conditionally on
// the lease being the one this collector wrote last.
func (l *lease) write(ctx context.Context, state string) error {
	doc := l.doc
	doc.State = state
	doc.Expires = time.Now().Add(l.ttl)
	if state == "idle" {
		doc.Expires = time.Now()
	}
	data, _ := json.Marshal(doc)
	c := storage.Cond{IfMatch: l.etag}
	if l.etag == "" {
		c = storage.Cond{IfNoneMatch: true}
	}
	info, err := l.s.d.Put(ctx, leaseKey, bytes.NewReader(data), c)
	if err != nil {
		return err
	}
	l.doc, l.etag = doc, info.ETag
	return nil
}

// set changes the lease's state (renewing it), serialized with keep.
func (l *lease) set(ctx context.Context, state string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(ctx, state)
}

// keep renews the lease every third of its TTL until the returned stop is
// called; the context it returns ends when a renewal fails, so that the
// collection stops sweeping at once.
func (l *lease) keep(ctx context.Context) (context.Context, func()) {
	kctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-kctx.Done():
				return
			case <-t.C:
			}
			l.mu.Lock()
			err := l.write(kctx, l.doc.State)
			l.mu.Unlock()
			if err != nil && kctx.Err() == nil {
				l.s.log.Warn("GC lease renewal failed", "err", err)
				cancel(ErrLeaseLost)
				return
			}
		}
	}()
	return kctx, func() { cancel(nil); <-done }
}

// release marks the lease idle, if it is still this collector's.
func (l *lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.set(ctx, "idle"); err != nil && !errors.Is(err, storage.ErrPrecondition) {
		l.s.log.Warn("releasing the GC lease", "err", err)
	}
}

// fence is what a push does before the step that makes content reachable,
// on storage without locks: wait while a collector is deleting (at most
// until its lease expires), then give the step a deadline shorter than any
// collector's settle time.
func (s *Server) fence(ctx context.Context) (context.Context, func(), error) {
	ttl := leaseTTL(s.opts.LeaseTTL)
	give := time.Now().Add(2 * ttl)
	for {
		doc, _, err := s.readLease(ctx)
		if err != nil {
			return nil, nil, err
		}
		if doc.State != "deleting" || time.Now().After(doc.Expires) {
			break
		}
		if time.Now().After(give) {
			return nil, nil, fmt.Errorf("%w: garbage collection (%s) has been deleting for too long", storage.ErrUnavailable, doc.Holder)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	fctx, cancel := context.WithTimeout(ctx, fenceTime(ttl))
	return fctx, cancel, nil
}

// commitGuard excludes garbage collection from the step that makes content
// reachable: the shared side of the driver's lock, or the lease fence. The
// step must use the context it returns.
func (s *Server) commitGuard(ctx context.Context) (context.Context, func(), error) {
	if s.locker != nil {
		unlock, err := s.locker.Lock(ctx, gcLockName, false)
		return ctx, unlock, err
	}
	return s.fence(ctx)
}

// errCollected is a blob deleted by a collection between its write and its
// link: the client retries (503) and uploads it again.
var errCollected = fmt.Errorf("%w: the blob was garbage-collected during the push; push it again", storage.ErrUnavailable)
