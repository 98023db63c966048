package auth

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestApacheHtpasswd checks files written by Apache's own htpasswd -B.
func TestApacheHtpasswd(t *testing.T) {
	bin := testenv.Peer(t, "htpasswd")
	p := filepath.Join(t.TempDir(), "htpasswd")
	for i, u := range []struct{ user, pass, flags string }{{"alice", "s3cret", "-Bbc"}, {"bob", "pa:ss word", "-Bb"}} {
		out, err := exec.Command(bin, u.flags, p, u.user, u.pass).CombinedOutput()
		if err != nil {
			t.Fatalf("htpasswd %d: %v %s", i, err, out)
		}
	}
	v, err := NewVerifier(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "s3cret", true},
		{"bob", "pa:ss word", true},
		{"alice", "wrong", false},
		{"carol", "s3cret", false},
		{"", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.user+"/"+tc.pass, func(t *testing.T) {
			err := v.Verify(context.Background(), tc.user, tc.pass, "client-"+tc.user+tc.pass)
			if (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok=%v", err, tc.ok)
			}
		})
	}
	// And Apache verifies what berth writes.
	h, err := HashPassword("from-berth", 5)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	data, err = SetUser(data, "dave", h)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, data, 0o600)
	if out, err := exec.Command(bin, "-vb", p, "dave", "from-berth").CombinedOutput(); err != nil {
		t.Fatalf("apache rejects berth's entry: %v %s", err, out)
	}
	if out, err := exec.Command(bin, "-vb", p, "alice", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("SetUser damaged another entry: %v %s", err, out)
	}
}

func TestParseHtpasswdRejects(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"md5", "u:$apr1$abc$def\n", "only bcrypt"},
		{"sha1", "u:{SHA}abc=\n", "only bcrypt"},
		{"no colon", "justuser\n", "expected user:hash"},
		{"broken bcrypt", "u:$2y$10$short\n", "invalid bcrypt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHtpasswd(strings.NewReader(tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	e, err := ParseHtpasswd(strings.NewReader("# comment\n\nu:" + string(mustHash(t, "p")) + "\n"))
	if err != nil || len(e) != 1 {
		t.Fatalf("%v %v", e, err)
	}
}

func mustHash(t *testing.T, pw string) []byte {
	t.Helper()
	h, err := HashPassword(pw, 4)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCacheAndReload(t *testing.T) {
	p := writeFile(t, "u:"+string(mustHash(t, "one"))+"\n")
	now := time.Unix(1000, 0)
	v, err := NewVerifier(p, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := v.Verify(ctx, "u", "one", "c"); err != nil {
		t.Fatal(err)
	}
	if len(v.cache) != 1 {
		t.Fatalf("verified credential not cached")
	}
	// The password changes: after the reload interval the old one fails
	// even though it was cached.
	os.WriteFile(p, []byte("u:"+string(mustHash(t, "two"))+"\n"), 0o600)
	os.Chtimes(p, now.Add(time.Minute), now.Add(time.Minute))
	now = now.Add(2 * time.Second)
	if err := v.Verify(ctx, "u", "one", "c"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after change: %v", err)
	}
	if err := v.Verify(ctx, "u", "two", "c"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	// Cache entries expire.
	now = now.Add(10 * time.Minute)
	if err := v.Verify(ctx, "u", "two", "c"); err != nil {
		t.Fatal(err)
	}
}

func TestFailedLoginsSlowDownPerClient(t *testing.T) {
	p := writeFile(t, "u:"+string(mustHash(t, "pw"))+"\n")
	v, err := NewVerifier(p, Options{FreeFailures: 2, MaxDelay: 80 * time.Millisecond, ThrottleAt: 6})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var lastDelay time.Duration
	for i := range 6 {
		start := time.Now()
		err := v.Verify(ctx, "u", "bad", "10.0.0.1")
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		lastDelay = time.Since(start)
	}
	if lastDelay < 80*time.Millisecond {
		t.Fatalf("sixth failure took %v, want >= the 80ms cap", lastDelay)
	}
	err = v.Verify(ctx, "u", "pw", "10.0.0.1")
	var th interface{ Throttled() bool }
	if !errors.As(err, &th) {
		t.Fatalf("after ThrottleAt failures: %v, want throttled", err)
	}
	// Another client is not affected.
	v.mu.Lock()
	d, derr := v.delayFor("10.0.0.2", time.Now())
	v.mu.Unlock()
	if d != 0 || derr != nil {
		t.Fatalf("other client delayed %v (%v)", d, derr)
	}
	if err := v.Verify(ctx, "u", "pw", "10.0.0.2"); err != nil {
		t.Fatalf("other client: %v", err)
	}
}

func FuzzParseHtpasswd(f *testing.F) {
	f.Add("u:$2y$05$abcdefghijklmnopqrstuu5p5Lb0vCpDGFoXMQbkFfvLzJbOamWCi\n")
	f.Add("# c\n\n:x\n")
	f.Add("a:b:c\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseHtpasswd(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.User == "" || !isBcrypt(string(e.Hash)) {
				t.Fatalf("accepted %+v", e)
			}
		}
	})
}
