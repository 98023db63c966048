package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// tokenReply is a token server's answer (Docker's token auth spec, and the
// OAuth2-style field names some servers use).
type tokenReply struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"` // seconds; the spec's default is 60
}

// CheckLogin verifies user/password against the registry at host the way
// `docker login` does: ping /v2/, then answer its challenge (Basic, or a
// Bearer token request with offline_token=true). It returns the identity
// token the token server handed out, if any, which Docker stores instead of
// the password.
func (c *Client) CheckLogin(ctx context.Context, host, user, pass string) (identityToken string, err error) {
	tok, err := c.checkLogin(ctx, host, user, pass)
	if err != nil {
		return "", classify(err, "logging in to", host, "")
	}
	return tok, nil
}

func (c *Client) checkLogin(ctx context.Context, host, user, pass string) (string, error) {
	hc, err := c.host(ctx, host)
	if err != nil {
		return "", err
	}
	scheme := "https"
	if hc.plain {
		scheme = "http"
	}
	ping := scheme + "://" + host + "/v2/"
	hcl := &http.Client{Transport: hc.base}
	resp, err := c.get(ctx, hc.base, ping)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return "", nil // no authentication needed; Docker accepts the login
	case http.StatusUnauthorized:
	default:
		return "", fmt.Errorf("GET %s: unexpected status %s", ping, untrusted.Text(resp.Status))
	}
	chs := ParseChallenges(resp.Header)
	for _, ch := range chs {
		switch ch.Scheme {
		case "bearer":
			return c.bearerLogin(ctx, hcl, ch, user, pass)
		case "basic":
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, ping, nil)
			if err != nil {
				return "", err
			}
			req.SetBasicAuth(user, pass)
			r, err := hcl.Do(req)
			if err != nil {
				return "", err
			}
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return "", nil
			}
			return "", &authError{msg: "incorrect username or password"}
		}
	}
	return "", fmt.Errorf("registry %s asks for an authentication scheme berth does not speak (%s)", host, untrusted.Quote(resp.Header.Get("WWW-Authenticate")))
}

func (c *Client) bearerLogin(ctx context.Context, hcl *http.Client, ch Challenge, user, pass string) (string, error) {
	realm := ch.Params["realm"]
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("registry gave an invalid token realm %s", untrusted.Quote(realm))
	}
	q := u.Query()
	if s := ch.Params["service"]; s != "" {
		q.Set("service", s)
	}
	q.Set("account", user)
	q.Set("client_id", "berth")
	q.Set("offline_token", "true")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(user, pass)
	tr, err := askTokenServer(hcl, req, "incorrect username or password")
	if err != nil {
		return "", err
	}
	return tr.RefreshToken, nil
}

// askTokenServer sends req to a token server and reads its reply, which
// must hold a token. refused is the message for a 401 or 403.
func askTokenServer(hcl *http.Client, req *http.Request, refused string) (*tokenReply, error) {
	resp, err := hcl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token server: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, &authError{msg: refused}
	default:
		return nil, fmt.Errorf("token server %s: unexpected status %s", req.URL.Host, untrusted.Text(resp.Status))
	}
	var tr tokenReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return nil, fmt.Errorf("token server %s: invalid reply: %w", req.URL.Host, err)
	}
	if tr.Token == "" && tr.AccessToken == "" {
		return nil, fmt.Errorf("token server %s: reply has no token", req.URL.Host)
	}
	return &tr, nil
}

// Login checks the credentials and saves them to Docker's config (or its
// credential helper). It returns the helper used ("" for the file).
func (c *Client) Login(ctx context.Context, host, user, pass string) (helper string, err error) {
	tok, err := c.CheckLogin(ctx, host, user, pass)
	if err != nil {
		return "", err
	}
	e := AuthEntry{Username: user, Password: pass}
	if tok != "" {
		e = AuthEntry{Username: user, IdentityToken: tok}
	}
	return c.creds.Store(ctx, ServerKey(host), e)
}

// RegistryHost turns what the user typed after `login`/`logout` into a
// registry host: "" and Hub's aliases are Docker Hub; a URL loses its
// scheme and path.
func RegistryHost(server string) string {
	if server == "" {
		return "index.docker.io"
	}
	h := ConfigHost(strings.TrimSpace(server))
	return h
}
