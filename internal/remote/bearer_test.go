package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
)

func TestCheckRealm(t *testing.T) {
	for _, tc := range []struct {
		realm, registry string
		plain           bool // the registry is reached over HTTP
		ok              bool
	}{
		{"https://auth.docker.io/token", "registry-1.docker.io", false, true},
		{"https://auth.example.com/token", "10.0.0.5:5000", false, true},
		{"http://127.0.0.1:5001/auth", "127.0.0.1:5000", true, true}, // docker_auth beside a local registry
		{"http://localhost:5001/auth", "localhost:5000", true, true},
		{"http://127.0.0.1:5001/auth", "127.0.0.1:5000", false, false}, // credentials in clear from a TLS registry
		{"https://10.0.0.6/token", "10.0.0.5:5000", false, true},       // internal token server, internal registry
		{"https://registry.example.com:5000/token", "registry.example.com:5000", false, true},
		{"https://10.0.0.6/token", "registry.example.com", false, false}, // public registry aiming inward
		{"http://127.0.0.1:8080/token", "registry.example.com", true, false},
		{"http://[::1]:8080/token", "203.0.113.7:5000", true, false},
		{"http://169.254.169.254/latest/meta-data", "10.0.0.5:5000", true, false}, // cloud metadata, never
		{"http://[fe80::1]/token", "127.0.0.1:5000", true, false},
		{"ftp://auth.example.com/token", "registry.example.com", true, false},
		{"/token", "registry.example.com", true, false},
	} {
		err := checkRealm(tc.realm, tc.registry, tc.plain)
		if (err == nil) != tc.ok {
			t.Errorf("checkRealm(%q, %q) = %v, want ok=%v", tc.realm, tc.registry, err, tc.ok)
		}
	}
}

// TestBearerRefreshesBeforeExpiry: a token is replaced before it expires
// (an upload started with a dying token could be refused mid-body), and
// not otherwise.
func TestBearerRefreshesBeforeExpiry(t *testing.T) {
	for _, tc := range []struct {
		ttl     int // the token server's expires_in
		fetches int32
	}{
		{300, 1}, // the first token serves every request
		{5, 4},   // inside the margin: a fresh token before each request
	} {
		var fetches atomic.Int32
		tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fetches.Add(1)
			fmt.Fprintf(w, `{"token":"tok","expires_in":%d}`, tc.ttl)
		}))
		reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer tok" {
				w.WriteHeader(http.StatusUnauthorized)
			}
		}))
		host := strings.TrimPrefix(reg.URL, "http://")
		bt, err := newBearerTransport(context.Background(), http.DefaultTransport, host, true,
			Challenge{Scheme: "bearer", Params: map[string]string{"realm": tokens.URL + "/token", "service": "test"}}, authn.AuthConfig{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: bt}
		for i := 0; i < 3; i++ {
			res, err := c.Get(reg.URL + "/v2/")
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("ttl %d, request %d: %v %v", tc.ttl, i, res, err)
			}
			res.Body.Close()
		}
		if got := fetches.Load(); got != tc.fetches {
			t.Errorf("ttl %d: %d token requests, want %d", tc.ttl, got, tc.fetches)
		}
		tokens.Close()
		reg.Close()
	}
}
