package registry

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
)

func TestBasicAuth(t *testing.T) {
	h, _ := auth.HashPassword("secret", 4)
	p := filepath.Join(t.TempDir(), "htpasswd")
	h2, _ := auth.HashPassword("pw2", 4)
	os.WriteFile(p, []byte("user:"+string(h)+"\nother:"+string(h2)+"\n"), 0o600)
	v, err := auth.NewVerifier(p, auth.Options{FreeFailures: 100, ThrottleAt: 3})
	if err != nil {
		t.Fatal(err)
	}
	tr := newTestRegistry(t, Options{Auth: v, Realm: "test realm"})
	tests := []struct {
		name string
		hdr  []string
		code int
	}{
		{"no credentials", nil, 401},
		{"wrong password", []string{"Authorization: Basic dXNlcjp3cm9uZw=="}, 401}, // user:wrong
		{"good", []string{"Authorization: Basic dXNlcjpzZWNyZXQ="}, 200},           // user:secret
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tr.do("GET", "/v2/", nil, tc.hdr...)
			if r.code != tc.code {
				t.Fatalf("%d %s", r.code, r.body)
			}
			if tc.code == 401 && (r.h.Get("WWW-Authenticate") != `Basic realm="test realm"` || r.errCode() != "UNAUTHORIZED") {
				t.Fatalf("challenge %q code %q", r.h.Get("WWW-Authenticate"), r.errCode())
			}
		})
	}
	for range 3 {
		tr.do("GET", "/v2/", nil, "Authorization: Basic dXNlcjp3cm9uZw==")
	}
	r := tr.do("GET", "/v2/", nil, "Authorization: Basic dXNlcjp3cm9uZw==")
	if r.code != 429 || r.errCode() != "TOOMANYREQUESTS" {
		t.Fatalf("after repeated failures: %d %s", r.code, r.body)
	}
	// It says when to retry, in the header and the body.
	if ra := r.h.Get("Retry-After"); ra == "" || ra == "0" || !strings.Contains(string(r.body), "retry after "+ra+" seconds") {
		t.Fatalf("Retry-After %q, body %s", ra, r.body)
	}
	// Another user behind the same address (a NAT) is not locked out.
	if r := tr.do("GET", "/v2/", nil, "Authorization: Basic "+basic("other", "pw2")); r.code != 200 {
		t.Fatalf("another user from the throttled address: %d %s", r.code, r.body)
	}
	// A credential verified before keeps working from its cache entry.
	if r := tr.do("GET", "/v2/", nil, "Authorization: Basic dXNlcjpzZWNyZXQ="); r.code != 200 {
		t.Fatalf("cached good credential: %d", r.code)
	}
	// Health and metrics stay reachable for probes.
	if r := tr.do("GET", "/healthz", nil); r.code != 200 {
		t.Fatalf("health behind auth: %d", r.code)
	}
}

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
