package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Authenticator verifies a user's password; internal/auth implements it with
// htpasswd files. client identifies the caller (its IP) so that failed
// attempts can be slowed down per client.
type Authenticator interface {
	Verify(ctx context.Context, user, password, client string) error
}

// throttler is implemented by Authenticator errors that refuse to check
// more passwords from a client for now; the client gets 429, with
// Retry-After when the error says how long to wait.
type throttler interface{ Throttled() bool }

func isThrottled(err error) bool {
	var t throttler
	return errors.As(err, &t) && t.Throttled()
}

// retryAfter is the whole seconds a throttled error asks to wait, at least 1.
func retryAfter(err error) int {
	var t interface{ RetryAfter() time.Duration }
	if errors.As(err, &t) {
		return max(1, int((t.RetryAfter()+time.Second-1)/time.Second))
	}
	return 10
}

// Options configures a Server. The zero value of every field but Driver is a
// working default.
type Options struct {
	Driver storage.Driver
	Logger *slog.Logger // access and error logs; nil discards them
	Auth   Authenticator
	Realm  string // Basic realm sent with 401; default "berth registry"
	// Token, when set, is registry:2's token auth instead of Basic: every
	// request carries a bearer token from the server at TokenRealm, issued
	// for TokenService and scoped per repository and action.
	Token        TokenVerifier
	TokenRealm   string
	TokenService string
	// ReadOnly refuses every write with 405 UNSUPPORTED.
	ReadOnly bool
	// Upstream makes the registry a pull-through cache of it (registry:2's
	// proxy mode): what is not stored is fetched, verified and kept; tags
	// are asked of the upstream each time (the stored one serves when it
	// cannot be reached); pushes and deletes are refused.
	Upstream Upstream
	// DisableDelete refuses blob, manifest and tag deletion (registry:2's
	// storage.delete.enabled=false).
	DisableDelete bool
	// Registerer receives the server's Prometheus collectors; nil gives the
	// server a registry of its own, served at /metrics either way.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// MaxBlobSize bounds every blob upload (default 1 TiB); larger bodies
	// are cut off with 413.
	MaxBlobSize int64
	// MaxCatalogEntries and MaxTags cap one page of _catalog and of a tag
	// list (registry:2's catalog.maxentries and tags.maxtags); 0: no cap.
	MaxCatalogEntries int
	MaxTags           int
	// Redirect answers blob GETs with a redirect to the driver's presigned
	// URL when the driver is a storage.Redirector, so the bytes never pass
	// through the registry (registry:2's storage.redirect).
	Redirect bool
	// LeaseTTL is the GC lease's lifetime on storage without locks (default
	// 1 minute); pushes fence their commits by it. Every replica and
	// collector on one store must use the same value.
	LeaseTTL time.Duration
	// Events receives registry:2's notification events (push, pull, mount,
	// delete); nil sends none. IncludeReferences adds the manifest's
	// descriptors to manifest events (notifications.events.includereferences).
	Events            EventSink
	IncludeReferences bool
	// InstanceAddr is the events' source.addr (this replica's address);
	// PathPrefix is http.prefix, for the events' target URLs.
	InstanceAddr string
	PathPrefix   string
	// ManifestURLs and IndexChildren are registry:2's validation.manifests
	// rules; nil and "" accept foreign layer URLs and sparse indexes.
	ManifestURLs  *URLPolicy
	IndexChildren IndexPolicy
	// HideMetrics keeps /metrics off this handler (it is then served on
	// the debug address only, as registry:2 does).
	HideMetrics bool
	// Pages, when set, builds the web pages served at / and /ui/ (package
	// ui) over this server, behind the same authentication as the API.
	Pages func(*Server) http.Handler
}

// Server is the OCI distribution API as an http.Handler.
type Server struct {
	d        storage.Driver
	log      *slog.Logger
	opts     Options
	cache    metaCache
	mcache   blobCache
	met      *metrics
	idPrefix string
	idSeq    atomic.Uint64
	// locker, when the driver is a storage.Locker, excludes garbage
	// collection while a push links blobs or commits a manifest.
	locker storage.Locker
	// flights coalesce the Stats that revalidate cached metadata, on
	// drivers without a Locker: object stores, where a Stat is a request
	// over the network (a filesystem's is one syscall, cheaper than
	// coalescing).
	flights *statFlights
	wlocks  writeLocks
	catLock chan struct{}
	// instance names this process in events (source.instanceID).
	instance string
	pages    http.Handler
}

// New returns a Server over opts.Driver.
func New(opts Options) (*Server, error) {
	if opts.Driver == nil {
		return nil, errors.New("registry: no storage driver")
	}
	if opts.Realm == "" {
		opts.Realm = "berth registry"
	}
	if opts.MaxBlobSize <= 0 {
		opts.MaxBlobSize = 1 << 40
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [4]byte
	rand.Read(b[:])
	var inst [16]byte
	rand.Read(inst[:])
	s := &Server{d: opts.Driver, log: log, opts: opts, idPrefix: hex.EncodeToString(b[:]) + "-", instance: hexUUID(inst)}
	s.mcache.max = 64 << 20
	s.catLock = make(chan struct{}, 1)
	for i := range s.wlocks {
		s.wlocks[i] = make(chan struct{}, 1)
	}
	s.locker, _ = opts.Driver.(storage.Locker)
	if s.locker == nil {
		s.flights = &statFlights{}
	}
	met, err := newMetrics(opts.Registerer, opts.Gatherer)
	if err != nil {
		return nil, err
	}
	s.met = met
	if opts.Pages != nil {
		s.pages = opts.Pages(s)
	}
	return s, nil
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
)

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

// ServeHTTP implements http.Handler: request id, access log and metrics
// around authentication and the /v2/ routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := s.idPrefix + itoa(int64(s.idSeq.Add(1)))
	r = r.WithContext(context.WithValue(r.Context(), keyRequestID, id))
	rw := &respWriter{ResponseWriter: w}
	rw.Header().Set("X-Request-Id", id)
	route, user := s.serve(rw, r)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	dur := time.Since(start)
	s.met.observe(r.Method, route, rw.status, dur, rw.n)
	if s.log.Enabled(r.Context(), slog.LevelInfo) {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("route", route), slog.Int("status", rw.status), slog.Int64("bytes", rw.n),
			slog.Duration("dur", dur), slog.String("remote", r.RemoteAddr), slog.String("user", user))
	}
}

func (s *Server) serve(w *respWriter, r *http.Request) (route, user string) {
	p := r.URL.Path
	switch p {
	case "/healthz", "/health":
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
		return "health", ""
	case "/metrics":
		if !s.opts.HideMetrics {
			s.met.handler.ServeHTTP(w, r)
			return "metrics", ""
		}
	}
	if s.pages != nil && (p == "/" || p == "/ui" || strings.HasPrefix(p, "/ui/")) {
		return "ui", s.servePages(w, r)
	}
	if p != "/v2" && !strings.HasPrefix(p, "/v2/") {
		http.NotFound(w, r)
		return "other", ""
	}
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	rt := parseRoute(p, r.Method)
	g := s.met.inflight[rt.kind]
	g.Inc()
	defer g.Dec()
	r, user, err := s.authorize(w, r, rt)
	if err != nil {
		s.writeError(w, r, err)
		return rt.kind.String(), user
	}
	if rt.kind == routeNone {
		s.writeError(w, r, newErr(http.StatusNotFound, "NAME_UNKNOWN", "unknown route"))
		return "other", user
	}
	if rt.kind != routePing && rt.kind != routeCatalog && !validName(rt.name) {
		s.writeError(w, r, errNameInvalid())
		return rt.kind.String(), user
	}
	if err := s.dispatch(w, r, rt); err != nil {
		s.writeError(w, r, err)
	}
	return rt.kind.String(), user
}

// authorize authenticates the request by the configured scheme (a bearer
// token granting what rt needs, or a Basic login) and returns it with the
// user and the token's grants in its context. On refusal the challenge
// headers are set and the error is the one to answer with.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, rt route) (*http.Request, string, error) {
	var user string
	if s.opts.Token != nil {
		var ok bool
		if r, user, ok = s.authorizeToken(w, r, rt); !ok {
			return r, user, errUnauthorized()
		}
	} else if s.opts.Auth != nil {
		u, err := s.authenticate(r)
		if err != nil {
			if isThrottled(err) {
				wait := retryAfter(err)
				w.Header().Set("Retry-After", strconv.Itoa(wait))
				return r, u, errTooManyRequests(fmt.Sprintf("too many failed logins for this user from this address: retry after %d seconds", wait))
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="`+strings.ReplaceAll(s.opts.Realm, `"`, ``)+`"`)
			return r, u, errUnauthorized()
		}
		user = u
	}
	if user != "" {
		r = r.WithContext(withUser(r.Context(), user))
	}
	return r, user, nil
}

// servePages hands the web pages the request once it is authenticated as an
// API request would be: a page needs a valid login or token (as the /v2/
// ping does), and each page then checks what the user may see and do.
func (s *Server) servePages(w *respWriter, r *http.Request) string {
	r, user, err := s.authorize(w, r, route{kind: routePing})
	if err != nil {
		var ae *apiError
		errors.As(err, &ae)
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(ae.status)
		io.WriteString(w, http.StatusText(ae.status)+": "+ae.Message+"\n")
		return user
	}
	s.pages.ServeHTTP(w, r)
	return user
}

func (s *Server) authenticate(r *http.Request) (string, error) {
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", errors.New("no credentials")
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if err := s.opts.Auth.Verify(r.Context(), u, p, host); err != nil {
		return u, err
	}
	return u, nil
}

// hexUUID formats 16 random bytes as a version 4 UUID.
func hexUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rt route) error {
	if s.opts.ReadOnly && isWrite(r.Method) {
		return errUnsupported("the registry is read-only")
	}
	if s.opts.Upstream != nil && isWrite(r.Method) {
		return errUnsupported("this registry is a pull-through cache: push to the upstream registry")
	}
	if s.opts.DisableDelete && r.Method == http.MethodDelete && rt.kind != routeUpload {
		return errUnsupported("deletion is disabled on this registry")
	}
	switch rt.kind {
	case routePing:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return errUnsupported("method not allowed")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		if r.Method == http.MethodGet {
			io.WriteString(w, "{}")
		}
		return nil
	case routeCatalog:
		return s.getCatalog(w, r)
	case routeTags:
		return s.getTags(w, r, rt.name)
	case routeBlob:
		return s.handleBlob(w, r, rt.name, rt.ref)
	case routeUploads:
		if r.Method != http.MethodPost {
			return errUnsupported("method not allowed")
		}
		return s.startUpload(w, r, rt.name)
	case routeUpload:
		return s.handleUpload(w, r, rt.name, rt.ref)
	case routeManifest:
		return s.handleManifest(w, r, rt.name, rt.ref)
	case routeReferrers:
		return s.getReferrers(w, r, rt.name, rt.ref)
	}
	return errUnsupported("method not allowed")
}

// respWriter records the status and size for the access log and metrics.
// It forwards ReadFrom so that blobs still go out with sendfile.
type respWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *respWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.n += n
	return n, err
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
