package engineapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
)

// Config is what the server needs from its wiring (internal/cli). The
// functions are the same constructors the berth commands use, so the API
// and the CLI share the store location, the registry settings and the
// builder.
type Config struct {
	// OpenStore opens the local store. It is called once per request and
	// the store closed at the request's end, so each request holds its
	// own lease on the blobs it writes, as one berth process does.
	OpenStore func(ctx context.Context) (*store.Store, error)
	// Remote builds a registry client with berth's settings that uses
	// exactly the given credentials (those the client sent).
	Remote func(auth map[string]remote.AuthEntry) (*remote.Client, error)
	// Pull is the pull command's function (nil: 501).
	Pull PullFunc
	// Save, Load and Import are the archive commands' functions (nil:
	// those endpoints answer 501).
	Save   SaveFunc
	Load   LoadFunc
	Import ImportFunc
	// Build and PruneBuildCache are the build commands' functions (nil:
	// 501).
	Build           BuildFunc
	PruneBuildCache BuildCacheFunc
	// BuildCacheUsage lists the build cache for GET /system/df (nil: no
	// records).
	BuildCacheUsage BuildCacheUsageFunc
	// Version is berth's version, shown by /version and in Server.
	Version string
	Logger  *slog.Logger
	// IdleTimeout stops Serve after this long without a request in
	// flight; 0 never stops.
	IdleTimeout time.Duration
}

// Server is the Engine API over one Config. Its Handler can be mounted on
// any listener; Serve adds the idle timeout and graceful stop.
type Server struct {
	cfg    Config
	log    *slog.Logger
	routes []route

	mu       sync.Mutex
	inFlight int
	idleFrom time.Time
	running  sync.WaitGroup // handlers in flight, waited for on stop

	lists listCache // the last unfiltered image list
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, log: cfg.Logger, idleFrom: time.Now()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.routes = s.table()
	return s
}

// handlerFunc serves one route; name is the {name} part of the path ("" for
// routes without one). A returned error is answered as {"message": …}
// unless the handler already started a response.
type handlerFunc func(w http.ResponseWriter, r *http.Request, name string) error

type route struct {
	method  string
	pattern string // "/images/{name}/json": {name} matches one or more characters, slashes too
	h       handlerFunc
}

// match reports whether path fits the pattern, and the {name} it holds.
func (rt route) match(path string) (string, bool) {
	pre, suf, hasName := strings.Cut(rt.pattern, "{name}")
	if !hasName {
		return "", path == rt.pattern
	}
	if len(path) <= len(pre)+len(suf) || !strings.HasPrefix(path, pre) || !strings.HasSuffix(path, suf) {
		return "", false
	}
	return path[len(pre) : len(path)-len(suf)], true
}

// maxHeaderBytes bounds request headers (net/http answers 431 beyond):
// the daemon has no such need for more, and credentials fit easily.
const maxHeaderBytes = 1 << 20

// ServeHTTP routes a request the way the daemon's router does: an optional
// /vX.Y prefix, then the route; an unknown path or method is 404 "page not
// found".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.enter()
	defer s.leave()
	rec := &recorder{ResponseWriter: w}
	w = rec
	h := w.Header()
	h.Set("Server", fmt.Sprintf("berth/%s (%s)", s.cfg.Version, runtime.GOOS))
	h.Set("Api-Version", APIVersion)
	h.Set("Ostype", runtime.GOOS)
	h.Set("Docker-Experimental", "false")

	version, path := splitVersion(r.URL.Path)
	var err error
	defer func() {
		lvl := slog.LevelInfo
		if rec.status >= 500 {
			lvl = slog.LevelError
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.status, "dur", time.Since(start).Round(time.Microsecond)}
		if err != nil {
			attrs = append(attrs, "err", err.Error())
		}
		s.log.Log(r.Context(), lvl, "request", attrs...)
	}()
	v, verr := checkVersion(version)
	if verr != nil {
		err = verr
		if compareVersions(version, "1.24") < 0 {
			// Clients from before 1.24 expect errors as plain text;
			// the daemon answers them so, and they print it legibly.
			http.Error(w, verr.Error(), statusOf(verr))
			return
		}
		writeError(w, verr)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), versionKey{}, v))
	// Parameters come in the query only: a body is an archive, a build
	// context or JSON, never a form, and is read by the handler alone.
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	if qerr != nil {
		err = badRequest(fmt.Errorf("invalid query: %w", qerr))
		writeError(w, err)
		return
	}
	r.Form = q
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	for _, rt := range s.routes {
		if rt.method != r.Method && !(rt.method == http.MethodGet && r.Method == http.MethodHead && rt.pattern == "/_ping") {
			continue
		}
		name, ok := rt.match(path)
		if !ok {
			continue
		}
		if err = rt.h(w, r, name); err != nil {
			if rec.status == 0 {
				writeError(w, err)
			}
		}
		return
	}
	err = errors.New("page not found")
	writeError(w, notFound(err))
}

// recorder remembers the status for the access log; Unwrap lets
// http.ResponseController reach the connection (Flush, full duplex).
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) enter() {
	s.mu.Lock()
	s.inFlight++
	s.running.Add(1)
	s.mu.Unlock()
}

func (s *Server) leave() {
	s.mu.Lock()
	s.running.Done()
	s.inFlight--
	if s.inFlight == 0 {
		s.idleFrom = time.Now()
	}
	s.mu.Unlock()
}

// idleFor is how long no request has been in flight (0 while one is).
func (s *Server) idleFor() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight > 0 {
		return 0
	}
	return time.Since(s.idleFrom)
}

// shutdownGrace is how long a stop waits for requests in flight (a pull, a
// build) before cancelling them; cancelled work cleans up after itself.
const shutdownGrace = 10 * time.Second

// ErrIdle is returned by Serve when the idle timeout stopped it.
var ErrIdle = errors.New("idle timeout")

// Serve answers requests on ln until ctx ends (SIGTERM in the command) or
// the idle timeout passes. Requests in flight get shutdownGrace to finish,
// then their contexts are cancelled.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelAll := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAll()
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       5 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var tick <-chan time.Time
	if s.cfg.IdleTimeout > 0 {
		t := time.NewTicker(min(s.cfg.IdleTimeout/4+time.Millisecond, time.Second))
		defer t.Stop()
		tick = t.C
	}
	var why error
	for why == nil {
		select {
		case err := <-served:
			return err
		case <-ctx.Done():
			why = ctx.Err()
		case <-tick:
			if s.idleFor() >= s.cfg.IdleTimeout {
				why = ErrIdle
			}
		}
	}
	s.log.Info("stopping", "reason", why.Error())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		cancelAll() // in-flight work stops and cleans up
		srv.Close()
	}
	<-served
	s.running.Wait()
	if errors.Is(why, ErrIdle) {
		return ErrIdle
	}
	return nil
}
