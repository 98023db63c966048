// Package authtest is a token server for tests: it issues registry:2-style
// bearer tokens (RFC 7519 JWTs with the Docker "access" claim) signed with
// a key of its own, whose certificate it writes as a root bundle, as
// docker_auth or Harbor would. Tokens are minted directly or through its
// HTTP token endpoint, which grants what a Policy allows.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer signs tokens for one service.
type Issuer struct {
	Name    string // the "iss" claim
	Service string // the "aud" claim
	Bundle  string // path of the PEM root bundle holding Cert
	Cert    *x509.Certificate
	Key     crypto.Signer
	KeyID   string // libtrust fingerprint of Key, the "kid" header
	URL     string // token endpoint, once Serve has been called
}

// NewIssuer makes an ECDSA P-256 signing key and its self-signed
// certificate, and writes the bundle into a temp dir.
func NewIssuer(t testing.TB, name, service string) *Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	bundle := filepath.Join(t.TempDir(), "token-bundle.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Issuer{Name: name, Service: service, Bundle: bundle, Cert: cert, Key: key, KeyID: libtrustID(&key.PublicKey)}
}

// libtrustID is the key ID registry 2.x token servers put in "kid":
// SHA-256 of the DER public key, first 240 bits, base32, in groups of 4.
// (Written out here independently of the verifier's copy, so that a
// mistake in one does not hide in both.)
func libtrustID(pub crypto.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	enc := base32.StdEncoding.EncodeToString(sum[:30])
	var groups []string
	for len(enc) >= 4 {
		groups = append(groups, enc[:4])
		enc = enc[4:]
	}
	return strings.Join(groups, ":")
}

// Token describes one token to mint; zero fields take working defaults
// (subject "tester", valid for 5 minutes, signed with "kid").
type Token struct {
	Subject  string
	Access   []auth.Access
	Issuer   string        // default: the issuer's name
	Audience string        // default: the service
	Expiry   time.Duration // from now; default 5 minutes; negative: expired
	NoExpiry bool
	X5C      bool // name the key by certificate chain instead of kid
	Key      crypto.Signer
	KeyID    string
}

// Mint signs tok.
func (is *Issuer) Mint(t testing.TB, tok Token) string {
	t.Helper()
	key := tok.Key
	if key == nil {
		key = is.Key
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	switch {
	case tok.X5C:
		opts = opts.WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(is.Cert.Raw)})
	case tok.KeyID != "":
		opts = opts.WithHeader(jose.HeaderKey("kid"), tok.KeyID)
	default:
		opts = opts.WithHeader(jose.HeaderKey("kid"), is.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := jwt.Claims{
		Issuer:    or(tok.Issuer, is.Name),
		Subject:   or(tok.Subject, "tester"),
		Audience:  jwt.Audience{or(tok.Audience, is.Service)},
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        now.Format(time.RFC3339Nano),
	}
	if !tok.NoExpiry {
		exp := tok.Expiry
		if exp == 0 {
			exp = 5 * time.Minute
		}
		c.Expiry = jwt.NewNumericDate(now.Add(exp))
	}
	access := tok.Access
	if access == nil {
		access = []auth.Access{}
	}
	raw, err := jwt.Signed(signer).Claims(c).Claims(map[string]any{"access": access}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Policy is who may log in to the token server and what they get.
type Policy struct {
	Users map[string]string // user → password; no credentials is anonymous
	// Grant returns the actions user ("" for anonymous) gets of those
	// asked on a resource.
	Grant func(user string, asked auth.Access) []string
}

// Serve starts the token endpoint on 127.0.0.1, as docker_auth does:
// GET ?service=S&scope=T:N:A,B (repeatable) with Basic credentials (or
// none, anonymous) returns {"token": …, "access_token": …}.
func (is *Issuer) Serve(t testing.TB, policy Policy) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, hasAuth := r.BasicAuth()
		if hasAuth && (policy.Users[user] == "" || policy.Users[user] != pass) {
			http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
			return
		}
		var granted []auth.Access
		for _, sc := range r.URL.Query()["scope"] {
			for _, one := range strings.Split(sc, " ") {
				parts := strings.Split(one, ":")
				if len(parts) < 3 {
					continue
				}
				asked := auth.Access{Type: parts[0], Name: strings.Join(parts[1:len(parts)-1], ":"), Actions: strings.Split(parts[len(parts)-1], ",")}
				if acts := policy.Grant(user, asked); len(acts) > 0 {
					granted = append(granted, auth.Access{Type: asked.Type, Name: asked.Name, Actions: acts})
				}
			}
		}
		tok := is.Mint(t, Token{Subject: user, Access: granted})
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": time.Now().UTC().Format(time.RFC3339)})
	}))
	t.Cleanup(srv.Close)
	is.URL = srv.URL + "/token"
	return is.URL
}
