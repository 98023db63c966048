package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/auth/authtest"
)

func TestTokenVerifier(t *testing.T) {
	is := authtest.NewIssuer(t, "test-issuer", "registry.test")
	v, err := auth.NewTokenVerifier("test-issuer", "registry.test", is.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pull := []auth.Access{{Type: "repository", Name: "team/app", Actions: []string{"pull"}}}
	good := is.Mint(t, authtest.Token{Subject: "alice", Access: pull})
	for _, tc := range []struct {
		name  string
		token string
		err   string // "" for accepted
	}{
		{"kid (libtrust ID)", good, ""},
		{"x5c chain", is.Mint(t, authtest.Token{Subject: "alice", Access: pull, X5C: true}), ""},
		{"expired", is.Mint(t, authtest.Token{Expiry: -2 * time.Minute}), "expired"},
		{"within the clock leeway", is.Mint(t, authtest.Token{Expiry: -30 * time.Second}), ""},
		{"no expiry", is.Mint(t, authtest.Token{NoExpiry: true}), "no expiry"},
		{"other issuer", is.Mint(t, authtest.Token{Issuer: "evil"}), "issuer"},
		{"other service", is.Mint(t, authtest.Token{Audience: "other.registry"}), "audience"},
		{"unknown key", is.Mint(t, authtest.Token{Key: other, KeyID: "AAAA:BBBB"}), "unknown key"},
		{"trusted kid, other key", is.Mint(t, authtest.Token{Key: other}), "signature"},
		{"tampered body", tamper(good), "signature"},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ0ZXN0LWlzc3VlciJ9.", "malformed"},
		{"garbage", "not.a.jwt", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.token)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Verify = %+v, %v; want an error with %q", c, err, tc.err)
			}
		})
	}
	c, err := v.Verify(good)
	if err != nil || c.Subject != "alice" || len(c.Access) != 1 || !c.Access[0].Allows("repository", "team/app", "pull") || c.Access[0].Allows("repository", "team/app", "push") {
		t.Fatalf("claims of a good token: %+v, %v", c, err)
	}
}

// tamper flips a character of the claims so the signature no longer fits.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	b := []byte(parts[1])
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	parts[1] = string(b)
	return strings.Join(parts, ".")
}

// FuzzTokenVerify: no input makes Verify panic or accept a token the
// issuer did not sign.
func FuzzTokenVerify(f *testing.F) {
	is := authtest.NewIssuer(f, "iss", "svc")
	v, err := auth.NewTokenVerifier("iss", "svc", is.Bundle)
	if err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{is.Mint(f, authtest.Token{}): true, is.Mint(f, authtest.Token{X5C: true}): true}
	for tok := range signed {
		f.Add(tok)
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := v.Verify(raw); err == nil && !signed[raw] {
			t.Fatalf("accepted a token the issuer did not sign: %q", raw)
		}
	})
}
