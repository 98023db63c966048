package remote

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// bearerTransport answers a registry's Bearer challenge the way Docker
// does: it asks the token server (the challenge's realm) for a token for
// the scopes at hand, with the user's credentials, attaches it to every
// request to the registry, and on a 401 that names a scope it lacks gets
// a new token for everything held so far plus that scope, then retries
// once (requests whose body cannot be replayed are not retried).
//
// go-containerregistry has one, but it refuses token servers on private
// or loopback addresses unless they share the registry's host:port. That
// stops a public registry from aiming a client at internal services, and
// it also breaks the ordinary internal setup (registry on 10.0.0.5:5000,
// token server on 10.0.0.6 or on another port of localhost). berth draws
// the line by where the registry is: see checkRealm.
type bearerTransport struct {
	inner    http.RoundTripper
	hcl      *http.Client // for token requests
	auth     authn.AuthConfig
	registry string // host[:port] tokens are sent to
	realm    string
	service  string

	mu      sync.Mutex
	scopes  []string
	token   string
	expires time.Time // zero: never (a registry token from config.json)
}

// tokenMargin is how long before its expiry a token is replaced: a request
// that starts with a token about to expire could be refused mid-push, and
// an upload body cannot be sent twice.
const tokenMargin = 10 * time.Second

func newBearerTransport(ctx context.Context, inner http.RoundTripper, registry string, plain bool, ch Challenge, auth authn.AuthConfig, scopes []string) (*bearerTransport, error) {
	realm := ch.Params["realm"]
	if err := checkRealm(realm, registry, plain); err != nil {
		return nil, err
	}
	bt := &bearerTransport{inner: inner, auth: auth, registry: registry, realm: realm, service: ch.Params["service"]}
	bt.hcl = &http.Client{Transport: inner, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return checkRealm(req.URL.String(), registry, plain)
	}}
	if sc := ch.Params["scope"]; sc != "" {
		scopes = append(scopes, strings.Fields(sc)...)
	}
	if err := bt.refresh(ctx, scopes...); err != nil {
		return nil, err
	}
	return bt, nil
}

// checkRealm decides whether the registry at registry may send berth, with
// the user's credentials, to realm. The scheme must be https, or http when
// the registry itself is reached over plain HTTP (loopback or
// --insecure-registry). A link-local realm (the cloud metadata service
// lives there) is never followed. A loopback or private address is
// followed only from a registry that is itself on a loopback or private
// address: from an internal registry it is the internal token server; from
// a public one it would be an attack on the user's network.
func checkRealm(realm, registry string, plain bool) error {
	u, err := url.Parse(realm)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("registry %s gave an invalid token realm %s", registry, untrusted.Quote(realm))
	}
	if u.Scheme == "http" && !plain {
		return fmt.Errorf("registry %s sent the login to %s over plain HTTP; berth sends credentials in clear only to registries it reaches over HTTP (--insecure-registry)", registry, untrusted.Text(u.Host))
	}
	if u.Host == registry {
		return nil
	}
	addr, ok := literalAddr(u.Hostname())
	if !ok {
		return nil // a name; resolving it here would only race the dial
	}
	if addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() {
		return fmt.Errorf("registry %s sent the login to a link-local address (%s); berth does not follow it", registry, untrusted.Text(u.Host))
	}
	if addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() {
		if reg, ok := literalAddr(hostOnly(registry)); ok && (reg.IsLoopback() || reg.IsPrivate()) || hostOnly(registry) == "localhost" {
			return nil
		}
		return fmt.Errorf("registry %s sent the login to the internal address %s; berth follows that only for registries on internal addresses", registry, untrusted.Text(u.Host))
	}
	return nil
}

func literalAddr(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func (bt *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != bt.registry {
		// A redirect to blob storage: the token is not for it.
		return bt.inner.RoundTrip(req)
	}
	bt.mu.Lock()
	tok, exp := bt.token, bt.expires
	bt.mu.Unlock()
	if !exp.IsZero() && time.Now().After(exp.Add(-tokenMargin)) {
		if err := bt.refresh(req.Context()); err == nil {
			bt.mu.Lock()
			tok = bt.token
			bt.mu.Unlock()
		}
	}
	res, err := bt.inner.RoundTrip(withBearer(req, tok))
	if err != nil || res.StatusCode != http.StatusUnauthorized {
		return res, err
	}
	var scope string
	for _, ch := range ParseChallenges(res.Header) {
		if ch.Scheme == "bearer" {
			scope = ch.Params["scope"]
		}
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable {
		return res, nil
	}
	if err := bt.refresh(req.Context(), strings.Fields(scope)...); err != nil {
		return res, nil // the caller sees the registry's 401
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	bt.mu.Lock()
	tok = bt.token
	bt.mu.Unlock()
	return bt.inner.RoundTrip(withBearer(retry, tok))
}

func withBearer(req *http.Request, tok string) *http.Request {
	if tok == "" {
		return req
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// refresh gets a token for the scopes held plus extra.
func (bt *bearerTransport) refresh(ctx context.Context, extra ...string) error {
	bt.mu.Lock()
	scopes := slices.Clone(bt.scopes)
	bt.mu.Unlock()
	for _, s := range extra {
		if s != "" && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	start := time.Now()
	tok, ttl, err := bt.fetch(ctx, scopes)
	if err != nil {
		return err
	}
	bt.mu.Lock()
	bt.scopes, bt.token, bt.expires = scopes, tok, time.Time{}
	if ttl > 0 {
		bt.expires = start.Add(ttl)
	}
	bt.mu.Unlock()
	return nil
}

// fetch asks the token server, as the Docker token specification says: a
// registry token from config.json is used as it is; an identity token is
// exchanged with the OAuth2 refresh_token grant; a username and password
// go as Basic credentials to a GET; no credentials ask anonymously.
//
// It returns the token and how long it lives (0 for a registry token,
// whose life berth does not know; the spec's 60 s when the server says
// nothing).
func (bt *bearerTransport) fetch(ctx context.Context, scopes []string) (string, time.Duration, error) {
	if bt.auth.RegistryToken != "" {
		return bt.auth.RegistryToken, 0, nil
	}
	var req *http.Request
	var err error
	if bt.auth.IdentityToken != "" {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bt.auth.IdentityToken}, "client_id": {"berth"}, "service": {bt.service}}
		if len(scopes) > 0 {
			form.Set("scope", strings.Join(scopes, " "))
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, bt.realm, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		u, perr := url.Parse(bt.realm)
		if perr != nil {
			return "", 0, perr
		}
		q := u.Query()
		if bt.service != "" {
			q.Set("service", bt.service)
		}
		for _, s := range scopes {
			q.Add("scope", s)
		}
		if bt.auth.Username != "" {
			q.Set("account", bt.auth.Username)
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err == nil && bt.auth.Username != "" {
			req.SetBasicAuth(bt.auth.Username, bt.auth.Password)
		}
	}
	if err != nil {
		return "", 0, err
	}
	tr, err := askTokenServer(bt.hcl, req, "the token server refused the credentials")
	if err != nil {
		return "", 0, err
	}
	ttl := 60 * time.Second
	if tr.ExpiresIn > 0 {
		ttl = time.Duration(tr.ExpiresIn) * time.Second
	}
	if tr.AccessToken != "" {
		return tr.AccessToken, ttl, nil
	}
	return tr.Token, ttl, nil
}
