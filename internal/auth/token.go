package auth

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Access is one grant of a bearer token: actions on a resource, as in the
// "access" claim of the Docker token specification.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Allows reports whether the grant covers action on the resource typ/name;
// "*" stands for every action.
func (a Access) Allows(typ, name, action string) bool {
	return a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*"))
}

// TokenClaims is what a verified token says.
type TokenClaims struct {
	Subject string
	Access  []Access
}

// tokenAlgorithms are the signatures token servers use (docker_auth,
// Harbor, GitLab: RS256 or ES256 mostly). "none" and HMAC are never
// accepted: the registry holds no shared secret.
var tokenAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// tokenLeeway absorbs clock skew between token server and registry, as
// registry:2 does.
const tokenLeeway = time.Minute

// TokenVerifier checks the bearer tokens of a token server, the way
// registry:2's "token" auth does: the JWT must be signed by a key whose
// certificate chains to the root bundle (x5c header), or by one of the
// bundle's own keys named by key ID (libtrust's ID, which registry 2.x
// token servers send, or the RFC 7638 thumbprint registry 3 accepts); the
// issuer and audience must match, and it must not have expired.
type TokenVerifier struct {
	issuer, service string
	roots           *x509.CertPool
	keys            map[string]crypto.PublicKey // by key ID
	now             func() time.Time

	// Verified tokens, by SHA-256 of the token: a client sends the same
	// token with every request for minutes, and checking its signature
	// each time (tens of µs for ES256) would cost the registry most of
	// its throughput.
	mu    sync.Mutex
	cache map[[32]byte]cachedToken
}

type cachedToken struct {
	claims    *TokenClaims
	notBefore time.Time
	expiry    time.Time
}

// maxCachedTokens bounds the cache; past it the cache starts again empty.
const maxCachedTokens = 8192

// NewTokenVerifier reads the PEM certificate bundle at bundlePath.
func NewTokenVerifier(issuer, service, bundlePath string) (*TokenVerifier, error) {
	data, err := os.ReadFile(bundlePath)
	if err != nil {
		return nil, fmt.Errorf("reading the token root certificate bundle: %w", err)
	}
	return newTokenVerifier(issuer, service, data)
}

func newTokenVerifier(issuer, service string, bundle []byte) (*TokenVerifier, error) {
	if issuer == "" || service == "" {
		return nil, errors.New("token auth needs an issuer and a service")
	}
	v := &TokenVerifier{issuer: issuer, service: service, roots: x509.NewCertPool(), keys: map[string]crypto.PublicKey{}, now: time.Now, cache: map[[32]byte]cachedToken{}}
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("token root certificate bundle: %w", err)
		}
		v.roots.AddCert(cert)
		for _, id := range keyIDs(cert.PublicKey) {
			v.keys[id] = cert.PublicKey
		}
	}
	if len(v.keys) == 0 {
		return nil, errors.New("the token root certificate bundle holds no certificate")
	}
	return v, nil
}

// keyIDs are the names a token's "kid" header may give key: libtrust's
// fingerprint (SHA-256 of the DER public key, 240 bits in base32 groups of
// four) and the RFC 7638 JWK thumbprint.
func keyIDs(key crypto.PublicKey) []string {
	var ids []string
	if der, err := x509.MarshalPKIXPublicKey(key); err == nil {
		sum := sha256.Sum256(der)
		s := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
		var b strings.Builder
		for i := 0; i < len(s); i += 4 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(s[i:min(i+4, len(s))])
		}
		ids = append(ids, b.String())
	}
	jwk := jose.JSONWebKey{Key: key}
	if tp, err := jwk.Thumbprint(crypto.SHA256); err == nil {
		ids = append(ids, base64.RawURLEncoding.EncodeToString(tp))
	}
	return ids
}

// tokenClaims is the JWT body of the Docker token specification.
type tokenClaims struct {
	jwt.Claims
	Access []Access `json:"access"`
}

// Verify checks raw and returns its subject and grants. The error says
// why a token was refused, for the registry's log; clients only learn
// that it was.
func (v *TokenVerifier) Verify(raw string) (*TokenClaims, error) {
	sum := sha256.Sum256([]byte(raw))
	now := v.now()
	v.mu.Lock()
	c, ok := v.cache[sum]
	v.mu.Unlock()
	if ok {
		if now.Before(c.notBefore.Add(-tokenLeeway)) || now.After(c.expiry.Add(tokenLeeway)) {
			return nil, errors.New("token claims: token is expired or not yet valid")
		}
		return c.claims, nil
	}
	claims, nbf, exp, err := v.verify(raw, now)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if len(v.cache) >= maxCachedTokens {
		clear(v.cache)
	}
	v.cache[sum] = cachedToken{claims: claims, notBefore: nbf, expiry: exp}
	v.mu.Unlock()
	return claims, nil
}

// verify checks a token not seen before.
func (v *TokenVerifier) verify(raw string, now time.Time) (claims *TokenClaims, notBefore, expiry time.Time, err error) {
	tok, err := jwt.ParseSigned(raw, tokenAlgorithms)
	if err != nil {
		return nil, notBefore, expiry, fmt.Errorf("malformed token: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, notBefore, expiry, errors.New("token must carry exactly one signature")
	}
	key, err := v.signingKey(tok.Headers[0])
	if err != nil {
		return nil, notBefore, expiry, err
	}
	var c tokenClaims
	if err := tok.Claims(key, &c); err != nil {
		return nil, notBefore, expiry, fmt.Errorf("token signature: %w", err)
	}
	if c.Expiry == nil {
		return nil, notBefore, expiry, errors.New("token has no expiry")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: v.issuer, AnyAudience: jwt.Audience{v.service}, Time: now}, tokenLeeway); err != nil {
		return nil, notBefore, expiry, fmt.Errorf("token claims: %w", err)
	}
	if c.NotBefore != nil {
		notBefore = c.NotBefore.Time()
	}
	return &TokenClaims{Subject: c.Subject, Access: c.Access}, notBefore, c.Expiry.Time(), nil
}

// Authorize verifies raw and returns its subject and a check of what it
// grants, in the standard types the registry's TokenVerifier interface
// asks for (the registry does not import this package).
func (v *TokenVerifier) Authorize(raw string) (subject string, allowed func(typ, name, action string) bool, err error) {
	c, err := v.Verify(raw)
	if err != nil {
		return "", nil, err
	}
	return c.Subject, func(typ, name, action string) bool {
		for _, a := range c.Access {
			if a.Allows(typ, name, action) {
				return true
			}
		}
		return false
	}, nil
}

// signingKey is the trusted public key a token header designates.
func (v *TokenVerifier) signingKey(h jose.Header) (crypto.PublicKey, error) {
	if chains, err := h.Certificates(x509.VerifyOptions{Roots: v.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: v.now()}); err == nil {
		return chains[0][0].PublicKey, nil
	} else if !errors.Is(err, jose.ErrMissingX5cHeader) {
		return nil, fmt.Errorf("token certificate chain: %w", err)
	}
	if h.KeyID != "" {
		if k, ok := v.keys[h.KeyID]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("token signed by unknown key %s", untrusted.Quote(h.KeyID))
	}
	if h.JSONWebKey != nil {
		// An embedded key is only as good as its match in the bundle.
		for _, id := range keyIDs(h.JSONWebKey.Key) {
			if k, ok := v.keys[id]; ok && sameKey(k, h.JSONWebKey.Key) {
				return k, nil
			}
		}
		return nil, errors.New("token signed by a key not in the root bundle")
	}
	return nil, errors.New("token names no signing key (x5c, kid or jwk)")
}

func sameKey(a, b crypto.PublicKey) bool {
	da, err1 := x509.MarshalPKIXPublicKey(a)
	db, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(da, db)
}
