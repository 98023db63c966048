package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestTokenCacheKeepsExpiry: a token verified once is answered from the
// cache, but never past its expiry (plus the leeway).
func TestTokenCacheKeepsExpiry(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	v, err := newTokenVerifier("iss", "svc", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), keyIDs(&key.PublicKey)[0]))
	start := time.Now()
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "iss", Audience: jwt.Audience{"svc"}, Subject: "alice", Expiry: jwt.NewNumericDate(start.Add(5 * time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{start, true},                                     // verified, cached
		{start.Add(time.Minute), true},                    // from the cache
		{start.Add(5*time.Minute + 30*time.Second), true}, // within the leeway
		{start.Add(7 * time.Minute), false},               // expired, cache or not
	} {
		v.now = func() time.Time { return tc.at }
		c, err := v.Verify(raw)
		if (err == nil) != tc.ok || (err == nil && c.Subject != "alice") {
			t.Fatalf("at +%v: %+v, %v; want ok=%v", tc.at.Sub(start), c, err, tc.ok)
		}
	}
	if len(v.cache) != 1 {
		t.Fatalf("%d cached tokens, want 1", len(v.cache))
	}
}
