package remote

import (
	"context"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Client talks to registries with Docker's configuration. The zero value is
// not usable; build one with New. A Client is safe for concurrent use.
type Client struct {
	settings  Settings
	creds     *Credentials
	certsDirs []string
	log       *slog.Logger
	userAgent string
	stall     time.Duration

	mu    sync.Mutex
	hosts map[string]*hostConn
}

// Options configure a Client. The zero value means: berth's settings file,
// Docker's config directory and certs.d directories, no extra insecure
// registries, a discarding logger.
type Options struct {
	Settings           *Settings // nil: load SettingsPath()
	DockerConfigDir    string    // "": DockerConfigDir()
	CertsDirs          []string  // nil: DefaultCertsDirs()
	InsecureRegistries []string  // added to the settings' list (--insecure-registry)
	Logger             *slog.Logger
	UserAgent          string
	// Auth, when not nil, replaces config.json and its credential helpers:
	// the client uses these credentials (by registry) and no others. See
	// Credentials.Fixed.
	Auth map[string]AuthEntry
	// StallTimeout: give up on a registry that sends or takes no data for
	// this long; 0 means $BERTH_STALL_TIMEOUT, else DefaultStallTimeout.
	StallTimeout time.Duration
}

// New returns a Client configured by o.
func New(o Options) (*Client, error) {
	c := &Client{hosts: map[string]*hostConn{}, log: o.Logger, userAgent: o.UserAgent}
	stall, err := stallTimeout(o.StallTimeout)
	if err != nil {
		return nil, err
	}
	c.stall = stall
	if o.Settings != nil {
		c.settings = o.Settings.withDefaults()
	} else {
		s, err := LoadSettings(SettingsPath())
		if err != nil {
			return nil, err
		}
		c.settings = s
	}
	c.settings.InsecureRegistries = append(append([]string(nil), c.settings.InsecureRegistries...), o.InsecureRegistries...)
	dir := o.DockerConfigDir
	if dir == "" {
		dir = DockerConfigDir()
	}
	c.creds = &Credentials{Dir: dir, Fixed: o.Auth}
	c.certsDirs = o.CertsDirs
	if c.certsDirs == nil {
		c.certsDirs = DefaultCertsDirs()
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.userAgent == "" {
		c.userAgent = "berth"
	}
	return c, nil
}

// Settings returns the effective settings.
func (c *Client) Settings() Settings { return c.settings }

// Credentials returns the credential store the client reads.
func (c *Client) Credentials() *Credentials { return c.creds }

// hostConn is what the client learned about one registry host: its base
// transport and whether it speaks plain HTTP.
type hostConn struct {
	once  sync.Once
	err   error
	base  http.RoundTripper
	plain bool
}

// host returns the probed connection settings for host, probing it once.
func (c *Client) host(ctx context.Context, host string) (*hostConn, error) {
	c.mu.Lock()
	hc, ok := c.hosts[host]
	if !ok {
		hc = &hostConn{}
		c.hosts[host] = hc
	}
	c.mu.Unlock()
	hc.once.Do(func() { hc.err = c.probe(ctx, host, hc) })
	if hc.err != nil {
		c.mu.Lock()
		delete(c.hosts, host) // let a later call try again
		c.mu.Unlock()
	}
	return hc, hc.err
}

// probe decides how to speak to host. HTTPS always comes first. Plain HTTP
// is used only for hosts Docker allows it for (loopback, --insecure-registry)
// and only when the server does not speak TLS at all: a server that speaks
// TLS with a certificate we cannot verify is a TLS error, not a reason to
// drop to plain text.
func (c *Client) probe(ctx context.Context, host string, hc *hostConn) error {
	insecure := c.settings.isInsecure(host)
	tc, err := tlsConfig(host, c.certsDirs, insecure)
	if err != nil {
		return &Error{Cause: CauseTLS, Host: host, Err: err}
	}
	base := transport.NewUserAgent(&stallGuard{next: newHTTPTransport(tc), window: c.stall}, c.userAgent)
	hc.base = base
	if !insecure && !isLoopback(host) {
		return nil // ggcr pings https itself; nothing to decide
	}
	resp, err := c.get(ctx, base, "https://"+host+"/v2/")
	if err == nil {
		resp.Body.Close()
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if tlsProblem(err) != "" {
		return classify(err, "connecting to", host, "")
	}
	if !notTLS(err) {
		// Not even a TCP connection: report it as is.
		if causeOf(err) == CauseUnreachable {
			return classify(err, "connecting to", host, "")
		}
	}
	hc.plain = true
	c.log.Debug("using plain HTTP", "registry", host)
	return nil
}

func (c *Client) get(ctx context.Context, rt http.RoundTripper, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return (&http.Client{Transport: rt}).Do(req)
}

// registry returns the go-containerregistry registry value for host, plain
// HTTP when the probe said so.
func (c *Client) registry(ctx context.Context, host string) (name.Registry, *hostConn, error) {
	hc, err := c.host(ctx, host)
	if err != nil {
		return name.Registry{}, nil, err
	}
	opts := []name.Option{name.WeakValidation}
	if hc.plain {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return name.Registry{}, nil, fmt.Errorf("registry %s: %w", untrusted.Quote(host), err)
	}
	return reg, hc, nil
}

// repo rebinds repo onto its probed registry (so scheme choices apply).
func (c *Client) repo(ctx context.Context, repo name.Repository) (name.Repository, *hostConn, error) {
	reg, hc, err := c.registry(ctx, repo.RegistryStr())
	if err != nil {
		return name.Repository{}, nil, err
	}
	return reg.Repo(repo.RepositoryStr()), hc, nil
}

// handshake pings the registry and answers its challenge: no auth, Basic
// (go-containerregistry's transport) or Bearer (berth's own, which follows
// token servers on internal addresses for internal registries).
func (c *Client) handshake(ctx context.Context, reg name.Registry, hc *hostConn, auth authn.Authenticator, scopes []string) (http.RoundTripper, error) {
	pr, err := transport.Ping(ctx, reg, hc.base)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(pr.Scheme, "bearer") {
		// NewWithContext pings once more, but its transport also picks
		// the scheme the registry answered on, which the pusher's URLs
		// need (a TLS registry on 127.0.0.1 would otherwise get http://).
		return transport.NewWithContext(ctx, reg, auth, hc.base, scopes)
	}
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for %s: %w", reg.RegistryStr(), err)
	}
	return newBearerTransport(ctx, hc.base, reg.RegistryStr(), pr.Insecure, Challenge{Scheme: "bearer", Params: pr.Parameters}, *cfg, scopes)
}

// authTransport returns a transport authenticated for repo with the given
// actions (transport.PullScope, PushScope), plus the URL scheme to use.
func (c *Client) authTransport(ctx context.Context, repo name.Repository, scopes ...string) (http.RoundTripper, string, error) {
	return c.authTransportWith(ctx, repo, nil, scopes...)
}

// authTransportWith is authTransport with given credentials (nil: the
// user's credential store and helpers).
func (c *Client) authTransportWith(ctx context.Context, repo name.Repository, auth authn.Authenticator, scopes ...string) (http.RoundTripper, string, error) {
	r, hc, err := c.repo(ctx, repo)
	if err != nil {
		return nil, "", err
	}
	if auth == nil {
		if auth, err = authn.Resolve(ctx, c.creds.Keychain(), r); err != nil {
			return nil, "", fmt.Errorf("reading credentials for %s: %w", r.RegistryStr(), err)
		}
	}
	var sc []string
	for _, s := range scopes {
		sc = append(sc, r.Scope(s))
	}
	rt, err := c.handshake(ctx, r.Registry, hc, auth, sc)
	if err != nil {
		return nil, "", err
	}
	scheme := "https"
	if hc.plain {
		scheme = "http"
	}
	return rt, scheme, nil
}
