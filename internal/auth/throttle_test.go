package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestThrottleIsPerAddressAndUser: failures for one user from one address
// (an attacker behind a NAT) neither lock out the other users behind that
// address nor, once the retry time it was told has passed, the right
// password of the user under attack; wrong guesses stay bounded to one per
// retry interval, and the refusal says when to retry.
func TestThrottleIsPerAddressAndUser(t *testing.T) {
	p := writeFile(t, "alice:"+string(mustHash(t, "pw-a"))+"\nbob:"+string(mustHash(t, "pw-b"))+"\n")
	now := time.Unix(1_800_000_000, 0)
	v, err := NewVerifier(p, Options{FreeFailures: 100, ThrottleAt: 5, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const nat = "203.0.113.7"
	for i := range 5 {
		if err := v.Verify(ctx, "alice", "guess", nat); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	err = v.Verify(ctx, "alice", "guess", nat)
	var th interface {
		Throttled() bool
		RetryAfter() time.Duration
	}
	if !errors.As(err, &th) || th.RetryAfter() <= 0 || th.RetryAfter() > 15*time.Minute {
		t.Fatalf("after 5 failures: %v, want throttled with a retry time", err)
	}
	if !strings.Contains(err.Error(), "retry in") {
		t.Errorf("message %q does not say when to retry", err)
	}
	// Everyone else behind the NAT logs in.
	if err := v.Verify(ctx, "bob", "pw-b", nat); err != nil {
		t.Fatalf("another user from the same address: %v", err)
	}
	// Alice from elsewhere too.
	if err := v.Verify(ctx, "alice", "pw-a", "198.51.100.1"); err != nil {
		t.Fatalf("the user from another address: %v", err)
	}
	v.mu.Lock()
	clear(v.cache) // the next checks must reach the throttle
	v.mu.Unlock()
	// Until the retry time, even the right password waits: checking it
	// would tell a guesser which guess is right at full speed.
	if err := v.Verify(ctx, "alice", "pw-a", nat); !errors.As(err, &th) {
		t.Fatalf("inside the retry time: %v, want throttled", err)
	}
	// After it, one attempt is checked: a wrong guess uses it...
	now = now.Add(th.RetryAfter())
	if err := v.Verify(ctx, "alice", "guess", nat); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("one guess after the retry time: %v, want it checked", err)
	}
	if err := v.Verify(ctx, "alice", "guess", nat); !errors.As(err, &th) {
		t.Fatalf("a second guess at once: %v, want throttled", err)
	}
	// ...and the right password gets through and ends the throttle.
	now = now.Add(th.RetryAfter())
	if err := v.Verify(ctx, "alice", "pw-a", nat); err != nil {
		t.Fatalf("the right password after the retry time: %v", err)
	}
	v.mu.Lock()
	clear(v.cache)
	v.mu.Unlock()
	if err := v.Verify(ctx, "alice", "pw-a", nat); err != nil {
		t.Fatalf("after a good login the throttle is over: %v", err)
	}
}
