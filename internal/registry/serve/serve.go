package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/config"
	"github.com/berth-dev/berth/internal/registry/notify"
	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/registry/ui"
)

// Options are what serving needs besides the configuration.
type Options struct {
	Config *config.Config
	// DefaultRoot is the filesystem root when the configuration names none.
	DefaultRoot string
	// Stderr receives the logs (JSON lines unless log.formatter is text).
	Stderr io.Writer
	// LogLevel, when set, overrides log.level (berth's -l flag).
	LogLevel *slog.Level
	// Upstream builds the pull-through cache's upstream client from
	// proxy.*; the CLI passes berth's registry client, so the cache uses the
	// user's mirrors, certs.d, insecure registries and credential helpers.
	Upstream func(config.Proxy) (registry.Upstream, error)
	// GCInterval runs garbage collection this often while serving (0: never);
	// GCDelay is its grace period for unreferenced blobs.
	GCInterval, GCDelay time.Duration
	MaxBlobSize         int64
	// Lease is the storage lease online GC takes on stores without locks
	// (an object store shared by replicas): how long it lasts unrenewed.
	LeaseTTL time.Duration
}

// UsageError is a configuration mistake the user must fix; the CLI exits
// 125 on them as it does on bad flags.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Logger builds the logger log.* asks for.
func Logger(c *config.Config, w io.Writer, override *slog.Level) *slog.Logger {
	level := slog.LevelInfo
	if override != nil {
		level = *override
	} else if c.Log.Level != "" {
		_ = level.UnmarshalText([]byte(c.Log.Level))
	}
	// Access logs are Info records; log.accesslog.disabled drops them.
	if c.Log.AccessLog.Disabled && level <= slog.LevelInfo {
		level = slog.LevelWarn
	}
	ho := &slog.HandlerOptions{Level: level, AddSource: c.Log.ReportCaller}
	var h slog.Handler = slog.NewJSONHandler(w, ho)
	if c.Log.Formatter == "text" {
		h = slog.NewTextHandler(w, ho)
	}
	log := slog.New(h)
	for k, v := range c.Log.Fields {
		log = log.With(k, v)
	}
	return log
}

// Run serves the registry until ctx ends, then drains the requests in
// flight (http.draintimeout, default 30s).
func Run(ctx context.Context, o Options) error {
	c := o.Config
	log := Logger(c, o.Stderr, o.LogLevel)
	for _, w := range c.Warnings {
		log.Warn(w)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// registry:2's storage metric: one observation per request to the store.
	actions := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "registry", Subsystem: "storage", Name: "action_seconds",
		Help: "The number of seconds that the storage action takes",
	}, []string{"driver", "action"})
	reg.MustRegister(actions)
	driverName := c.StorageDriver()
	drv, where, err := openStorage(ctx, c, o.DefaultRoot, log, func(action string, d time.Duration) {
		actions.WithLabelValues(driverName, action).Observe(d.Seconds())
	})
	if err != nil {
		return err
	}
	ropts, err := serverOptions(ctx, c, o, drv, log, reg)
	if err != nil {
		return err
	}
	srv, err := registry.New(ropts)
	if err != nil {
		return err
	}
	health := newHealthChecks(c, drv, c.StorageDriver())
	handler := wrap(c, srv, health)
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if err := configureProtocols(c, hs); err != nil {
		return err
	}
	network := c.HTTP.Net
	if network == "" {
		network = "tcp"
	}
	addr := c.HTTP.Addr
	if addr == "" {
		addr = ":5000"
	}
	if network == "unix" {
		os.Remove(addr) // a socket left by a previous run
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	var dbg *http.Server
	if c.HTTP.Debug.Addr != "" {
		dbg, err = startDebug(c, reg, health, log)
		if err != nil {
			ln.Close()
			return err
		}
	}
	// The address line is printed whatever the level: with --addr :0 it is
	// the only way to learn the port.
	log.Log(ctx, max(slog.LevelInfo, levelOf(log)), "listening", "addr", ln.Addr().String(), "storage", where,
		"tls", hs.TLSConfig != nil, "auth", authKind(c), "read_only", c.Storage.Maintenance.ReadOnly.Enabled,
		"proxy", c.Proxy.RemoteURL, "prefix", c.HTTP.Prefix, "debug", c.HTTP.Debug.Addr)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	health.start(bg, log)
	startBackground(bg, c, o, drv, log)
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	// SIGTERM or Ctrl-C: stop accepting, finish the requests in flight.
	log.Info("shutting down")
	stopBG()
	drain := c.HTTP.DrainTimeout
	if drain <= 0 {
		drain = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if dbg != nil {
		dbg.Shutdown(sctx)
	}
	defer func() {
		if b, ok := ropts.Events.(*notify.Broadcaster); ok {
			b.Close(sctx) // deliver what is queued, within the drain time
		}
	}()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

func levelOf(log *slog.Logger) slog.Level {
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if log.Enabled(context.Background(), l) {
			return l
		}
	}
	return slog.LevelError
}

func authKind(c *config.Config) string {
	switch {
	case c.Auth.Token != nil:
		return "token"
	case c.Auth.Htpasswd != nil:
		return "htpasswd"
	}
	return "none"
}

// serverOptions turns the configuration into the server's options.
func serverOptions(ctx context.Context, c *config.Config, o Options, drv storage.Driver, log *slog.Logger, reg *prometheus.Registry) (registry.Options, error) {
	ro := registry.Options{
		Driver: drv, Logger: log, ReadOnly: c.Storage.Maintenance.ReadOnly.Enabled, DisableDelete: !c.DeleteEnabled(),
		MaxBlobSize: o.MaxBlobSize, Registerer: reg, Gatherer: reg, LeaseTTL: o.LeaseTTL,
		MaxCatalogEntries: c.Catalog.MaxEntries, MaxTags: c.Tags.MaxTags,
		Redirect:    c.StorageDriver() == "s3" && !c.Storage.Redirect.Disable,
		HideMetrics: c.HTTP.Debug.Addr != "",
	}
	if allow, deny, ok := c.URLRegexps(); ok {
		ro.ManifestURLs = &registry.URLPolicy{Allow: allow, Deny: deny}
	}
	ro.IndexChildren.Platforms, ro.IndexChildren.List = c.IndexPlatforms()
	ro.PathPrefix, ro.InstanceAddr = c.HTTP.Prefix, c.HTTP.Addr
	ro.Pages = func(s *registry.Server) http.Handler {
		return ui.New(s, ui.Options{Prefix: c.HTTP.Prefix, PullHost: pullHost(c.HTTP.Host), Logger: log})
	}
	var eps []notify.Endpoint
	for _, e := range c.Notifications.Endpoints {
		if e.Disabled {
			continue
		}
		eps = append(eps, notify.Endpoint{Name: e.Name, URL: e.URL, Headers: e.Headers, Timeout: e.Timeout, Threshold: e.Threshold,
			Backoff: e.Backoff, IgnoreMediaTypes: append(append([]string(nil), e.IgnoredMediaTypes...), e.Ignore.MediaTypes...), IgnoreActions: e.Ignore.Actions})
	}
	if len(eps) > 0 {
		b, err := notify.New(notify.Options{Endpoints: eps, Logger: log, Registerer: reg})
		if err != nil {
			return ro, err
		}
		ro.Events, ro.IncludeReferences = b, c.Notifications.Events.IncludeReferences
	}
	if c.Proxy.RemoteURL != "" {
		if o.Upstream == nil {
			return ro, errors.New("proxy.remoteurl is set but this build has no registry client for the upstream")
		}
		up, err := o.Upstream(c.Proxy)
		if err != nil {
			return ro, err
		}
		ro.Upstream = up
	}
	if t := c.Auth.Token; t != nil {
		v, err := auth.NewTokenVerifier(t.Issuer, t.Service, t.RootCertBundle)
		if err != nil {
			return ro, fmt.Errorf("%w (hint: rootcertbundle is the PEM file of the certificates that sign the token server's tokens)", err)
		}
		ro.Token, ro.TokenRealm, ro.TokenService = v, t.Realm, t.Service
	}
	if h := c.Auth.Htpasswd; h != nil {
		v, err := auth.NewVerifier(h.Path, auth.Options{})
		if err != nil {
			return ro, fmt.Errorf("%w (hint: create it with `berth registry htpasswd -Bc FILE USER`)", err)
		}
		ro.Auth, ro.Realm = v, h.Realm
	}
	return ro, nil
}

// configureProtocols sets TLS (http.tls), HTTP/2 (http.http2.disabled) and
// cleartext HTTP/2 (http.h2c.enabled).
func configureProtocols(c *config.Config, hs *http.Server) error {
	t := c.HTTP.TLS
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	if t.Certificate != "" {
		cert, err := tls.LoadX509KeyPair(t.Certificate, t.Key)
		if err != nil {
			return fmt.Errorf("loading TLS certificate: %w (hint: pass a PEM certificate and its key)", err)
		}
		minV, _ := config.TLSVersion(t.MinimumTLS)
		suites, _ := config.CipherSuites(t.CipherSuites)
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: minV, CipherSuites: suites}
		if len(t.ClientCAs) > 0 {
			pool := x509.NewCertPool()
			for _, f := range t.ClientCAs {
				pem, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("http.tls.clientcas: %w", err)
				}
				if !pool.AppendCertsFromPEM(pem) {
					return fmt.Errorf("http.tls.clientcas: %s holds no PEM certificate", f)
				}
			}
			tc.ClientCAs = pool
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
		switch t.ClientAuth {
		case "request-client-cert":
			tc.ClientAuth = tls.RequestClientCert
		case "require-any-client-cert":
			tc.ClientAuth = tls.RequireAnyClientCert
		case "verify-client-cert-if-given":
			tc.ClientAuth = tls.VerifyClientCertIfGiven
		case "require-and-verify-client-cert":
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
		if !c.HTTP.HTTP2.Disabled {
			tc.NextProtos = []string{"h2", "http/1.1"}
			protos.SetHTTP2(true)
		} else {
			tc.NextProtos = []string{"http/1.1"}
		}
		hs.TLSConfig = tc
	}
	if c.HTTP.H2C.Enabled {
		protos.SetUnencryptedHTTP2(true)
	}
	hs.Protocols = protos
	return nil
}

// startDebug serves http.debug.addr: pprof, the health of the checks and,
// with http.debug.prometheus.enabled, the metrics (registry:2's names), so
// that none of them is on the public port.
func startDebug(c *config.Config, reg *prometheus.Registry, health *healthChecks, log *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/health", health.handler())
	if p := c.HTTP.Debug.Prometheus; p.Enabled {
		path := p.Path
		if path == "" {
			path = "/metrics"
		}
		mux.Handle(path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	ln, err := net.Listen("tcp", c.HTTP.Debug.Addr)
	if err != nil {
		return nil, fmt.Errorf("http.debug.addr: listening on %s: %w", c.HTTP.Debug.Addr, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go hs.Serve(ln)
	log.Info("debug server listening", "addr", ln.Addr().String())
	return hs, nil
}

// pullHost is the registry's name in the pages' pull lines: http.host's
// host and port when set (the request's Host otherwise).
func pullHost(host string) string {
	if u, err := url.Parse(host); err == nil && u.Host != "" {
		return u.Host
	}
	return ""
}
