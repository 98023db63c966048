package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Options tune a Verifier; zero values are the defaults.
type Options struct {
	CacheTTL     time.Duration // how long a verified credential is trusted; default 5m
	CacheSize    int           // default 10000 entries
	FreeFailures int           // failures per client and user before slowing down; default 3
	MaxDelay     time.Duration // cap of the per-attempt delay; default 5s
	ThrottleAt   int           // failures after which a client gets 429 for that user, bar one check per retry time; default 50
	// ThrottleRetry is the first retry time of a throttled client and
	// user; it doubles with each checked failure after, up to 5 minutes.
	// Default 10s.
	ThrottleRetry time.Duration
	Now           func() time.Time
}

// Verifier checks Basic credentials against an htpasswd file, reloading it
// when it changes.
type Verifier struct {
	path string
	opts Options

	checked atomic.Int64 // unix nanoseconds of the last file check

	mu      sync.RWMutex
	users   map[string][]byte
	modTime time.Time
	size    int64
	cache   map[[32]byte]cached // hash of user and password -> verified entry
	fails   map[string]*failState
}

// cached is a verified credential: valid until exp, and only while the
// user's stored hash is still hash.
type cached struct {
	exp  time.Time
	hash []byte
}

type failState struct {
	n    int
	last time.Time
	// next is when a throttled client may have its next password checked.
	next time.Time
}

// throttled is returned when a client has failed too often for a user; it
// reports Throttled() and RetryAfter() so the HTTP layer can answer 429
// with Retry-After without importing this package's types.
type throttled struct{ wait time.Duration }

func (t throttled) Error() string {
	return fmt.Sprintf("too many failed logins for this user from this address; retry in %s", t.RetryAfter())
}
func (t throttled) Throttled() bool { return true }

// RetryAfter is the wait, in whole seconds (at least one).
func (t throttled) RetryAfter() time.Duration {
	return max(time.Second, (t.wait + time.Second - 1).Truncate(time.Second))
}

const maxThrottleRetry = 5 * time.Minute

// NewVerifier loads path and returns a Verifier for it.
func NewVerifier(path string, opts Options) (*Verifier, error) {
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 5 * time.Minute
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 10000
	}
	if opts.FreeFailures == 0 {
		opts.FreeFailures = 3
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 5 * time.Second
	}
	if opts.ThrottleAt == 0 {
		opts.ThrottleAt = 50
	}
	if opts.ThrottleRetry == 0 {
		opts.ThrottleRetry = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Verifier{path: path, opts: opts, cache: map[[32]byte]cached{}, fails: map[string]*failState{}}
	if err := v.reload(opts.Now()); err != nil {
		return nil, err
	}
	return v, nil
}

// maybeReload re-reads the file when its size or mtime changed, checking at
// most once a second; requests in between pay one atomic load.
func (v *Verifier) maybeReload(now time.Time) error {
	last := v.checked.Load()
	if now.UnixNano()-last < int64(time.Second) || !v.checked.CompareAndSwap(last, now.UnixNano()) {
		return nil
	}
	fi, err := os.Stat(v.path)
	if err != nil {
		return fmt.Errorf("reading htpasswd file: %w", err)
	}
	v.mu.RLock()
	same := fi.ModTime().Equal(v.modTime) && fi.Size() == v.size
	v.mu.RUnlock()
	if same {
		return nil
	}
	return v.reload(now)
}

func (v *Verifier) reload(now time.Time) error {
	v.checked.Store(now.UnixNano())
	fi, err := os.Stat(v.path)
	if err != nil {
		return fmt.Errorf("reading htpasswd file: %w", err)
	}
	entries, err := LoadFile(v.path)
	if err != nil {
		return err
	}
	users := make(map[string][]byte, len(entries))
	for _, e := range entries {
		users[e.User] = e.Hash
	}
	v.mu.Lock()
	v.users, v.modTime, v.size = users, fi.ModTime(), fi.Size()
	clear(v.cache) // a changed password must not stay valid through the cache
	v.mu.Unlock()
	return nil
}

// Verify checks user and password. client (an IP address) and user
// together are used to slow down guessing: after FreeFailures failures of
// that user from that client each attempt waits twice as long as the
// previous one, up to MaxDelay; after ThrottleAt failures the client is
// refused for that user (a throttled error, for 429) except for one checked
// attempt per retry time, which doubles from ThrottleRetry with each failure
// up to 5 minutes. Other users behind the same address (a NAT, a proxy) are
// not affected, and the right password, tried after the retry time, gets
// through; a guesser gets one guess per retry time.
func (v *Verifier) Verify(ctx context.Context, user, password, client string) error {
	now := v.opts.Now()
	if err := v.maybeReload(now); err != nil {
		return err
	}
	key := cacheKey(user, password)
	v.mu.RLock()
	hash, known := v.users[user]
	c, hit := v.cache[key]
	v.mu.RUnlock()
	if hit && known && now.Before(c.exp) && bytes.Equal(c.hash, hash) {
		return nil
	}
	fk := client + "\x00" + user
	v.mu.Lock()
	delay, err := v.delayFor(fk, now)
	v.mu.Unlock()
	if err != nil {
		return err
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	ok := false
	if known {
		ok = bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	} else {
		// Spend the same time on unknown users as on wrong passwords.
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !ok {
		f := v.fails[fk]
		if f == nil {
			if len(v.fails) > 100000 {
				clear(v.fails)
			}
			f = &failState{}
			v.fails[fk] = f
		}
		f.n++
		f.last = v.opts.Now()
		if over := f.n - v.opts.ThrottleAt; over >= 0 {
			f.next = f.last.Add(min(v.opts.ThrottleRetry<<min(over, 20), maxThrottleRetry))
		}
		return ErrBadCredentials
	}
	delete(v.fails, fk)
	if len(v.cache) >= v.opts.CacheSize {
		clear(v.cache)
	}
	v.cache[key] = cached{exp: v.opts.Now().Add(v.opts.CacheTTL), hash: hash}
	return nil
}

// failWindow: failures older than this are forgotten.
const failWindow = 15 * time.Minute

// delayFor says how long an attempt of the client and user key must wait,
// or refuses it; a throttled key's one allowed check reserves its retry
// time at once, so that parallel attempts cannot share it. v.mu is held.
func (v *Verifier) delayFor(key string, now time.Time) (time.Duration, error) {
	f := v.fails[key]
	if f == nil {
		return 0, nil
	}
	if now.Sub(f.last) > failWindow {
		delete(v.fails, key)
		return 0, nil
	}
	if f.n >= v.opts.ThrottleAt {
		if now.Before(f.next) {
			return 0, throttled{f.next.Sub(now)}
		}
		f.next = now.Add(v.opts.ThrottleRetry)
		return 0, nil
	}
	if f.n < v.opts.FreeFailures {
		return 0, nil
	}
	d := 100 * time.Millisecond << min(f.n-v.opts.FreeFailures, 10)
	return min(d, v.opts.MaxDelay), nil
}

// cacheKey hashes the credential so that the cache holds no password.
func cacheKey(user, password string) [32]byte {
	b := make([]byte, 0, len(user)+1+len(password))
	b = append(append(append(b, user...), 0), password...)
	return sha256.Sum256(b)
}

// dummyHash is compared against for unknown users (cost 10, like real entries).
var dummyHash = []byte("$2a$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z2Bgbh4/BeY5mD.VrJ3b5Hde")
