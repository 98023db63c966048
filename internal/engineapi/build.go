package engineapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	buildtypes "github.com/moby/moby/api/types/build"
)

// BuildOptions is POST /build's parameters as `berth build` takes them.
type BuildOptions struct {
	Context    io.Reader // the context tar (plain or compressed) or a Dockerfile, from the body
	Remote     string    // a Git or http(s) URL context instead of the body ("remote")
	Tags       []string
	Dockerfile string // a path inside the context; "" is Dockerfile
	BuildArgs  map[string]string
	Labels     map[string]string
	Target     string
	NoCache    bool
	Pull       bool
	Platform   *v1.Platform
	Network    string   // default, host or none
	ExtraHosts []string // HOST:IP
	CacheFrom  []string
	// Auth is what X-Registry-Config carried: FROM images are pulled with
	// these credentials and no others.
	Auth map[string]remote.AuthEntry
}

// BuildFunc runs one build as `berth build` does, with its progress lines
// written to progress, and returns the image ID. The image is recorded
// under its tags only when the build succeeds.
type BuildFunc func(ctx context.Context, st *store.Store, o BuildOptions, progress io.Writer) (*build.Result, error)

// BuildCacheFunc prunes build cache (all: every record, not only what no
// image uses), as `berth builder prune` does.
type BuildCacheFunc func(ctx context.Context, st *store.Store, all bool) (freed int64, err error)

// BuildCacheUsageFunc lists the build cache as `berth system df -v` does.
type BuildCacheUsageFunc func(ctx context.Context, st *store.Store) ([]build.CacheRecord, error)

// jsonParam decodes a JSON query parameter into v; "" (which older clients
// send for unset parameters) leaves v as it is.
func jsonParam(r *http.Request, name string, v any) error {
	s := r.FormValue(name)
	if strings.TrimSpace(s) == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return badRequest(fmt.Errorf("invalid %s parameter: %w", name, err))
	}
	return nil
}

// buildOptions reads the classic builder's parameters (docker CLI 28 sends
// these when buildx is missing or DOCKER_BUILDKIT=0; docker-py always).
func buildOptions(r *http.Request) (BuildOptions, error) {
	o := BuildOptions{Dockerfile: r.FormValue("dockerfile"), Target: r.FormValue("target"),
		NoCache: boolValue(r, "nocache"), Pull: boolValue(r, "pull"), BuildArgs: map[string]string{}, Labels: map[string]string{}}
	if v := r.FormValue("version"); v == "2" {
		return o, badRequest(errors.New("BuildKit's session API is not served: berth's service speaks the classic build API (Builder-Version 1); use DOCKER_BUILDKIT=0 or run berth build"))
	}
	for _, t := range r.Form["t"] {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if _, err := ref.Parse(t); err != nil {
			return o, badRequest(fmt.Errorf("invalid tag %q: %w", t, err))
		}
		o.Tags = append(o.Tags, t)
	}
	// buildargs values may be null: an ARG named without a value, whose
	// value the client did not have. It stays unset.
	var args map[string]*string
	if err := jsonParam(r, "buildargs", &args); err != nil {
		return o, err
	}
	for k, v := range args {
		if v != nil {
			o.BuildArgs[k] = *v
		}
	}
	if err := jsonParam(r, "labels", &o.Labels); err != nil {
		return o, err
	}
	if err := jsonParam(r, "cachefrom", &o.CacheFrom); err != nil {
		return o, err
	}
	for _, h := range r.Form["extrahosts"] {
		if h = strings.TrimSpace(h); h != "" {
			o.ExtraHosts = append(o.ExtraHosts, h)
		}
	}
	switch n := r.FormValue("networkmode"); n {
	case "", "default", "bridge":
		o.Network = "default"
	case "host", "none":
		o.Network = n
	default:
		return o, badRequest(fmt.Errorf("network mode %q not supported by berth build: use default, host or none", n))
	}
	p, err := platformParam(r.FormValue("platform"))
	if err != nil {
		return o, err
	}
	o.Platform = p
	if rc := r.FormValue("remote"); rc != "" {
		if !remoteContextURL(rc) {
			return o, badRequest(fmt.Errorf("invalid remote context %q: use a Git or http(s) URL, or send the context in the body", rc))
		}
		o.Remote = rc
	}
	return o, nil
}

// remoteContextURL accepts the URLs a remote context may be; a path would
// name the server's files.
func remoteContextURL(s string) bool {
	for _, p := range []string{"https://", "http://", "git://", "git@", "ssh://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (s *Server) postBuild(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.cfg.Build == nil {
		return errImagesOnly
	}
	o, err := buildOptions(r)
	if err != nil {
		return err
	}
	configs, err := registryConfig(r.Header.Get("X-Registry-Config"))
	if err != nil {
		return err
	}
	o.Auth = credentialsFor("", nil, configs)
	o.Context = r.Body
	quiet := boolValue(r, "q")
	// Output flows while the context is still arriving.
	_ = http.NewResponseController(w).EnableFullDuplex()

	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	out := newStream(w)
	lines := &lineWriter{emit: func(l string) { _ = out.Stream(l) }}
	var quietBuf bytes.Buffer
	var progress io.Writer = lines
	if quiet {
		progress = &quietBuf
	}
	res, err := s.cfg.Build(r.Context(), st, o, progress)
	lines.Flush()
	if err != nil {
		if quiet && quietBuf.Len() > 0 {
			_ = out.Stream(quietBuf.String())
		}
		out.failCode(err, buildErrorCode(err))
		return nil
	}
	id := res.ID.String()
	_ = out.Aux(buildtypes.Result{ID: id})
	if quiet {
		_ = out.Stream(id + "\n")
		return nil
	}
	_ = out.Stream("Successfully built " + strings.TrimPrefix(id, "sha256:")[:12] + "\n")
	for _, t := range o.Tags {
		if p, err := ref.Parse(t); err == nil {
			_ = out.Stream("Successfully tagged " + ref.Familiar(p) + "\n")
		}
	}
	return nil
}

// buildErrorCode is errorDetail.code of a failed build, which the docker
// CLI exits with: a RUN command's own exit status, else 1.
func buildErrorCode(err error) int {
	var ee *build.ExitError
	if errors.As(err, &ee) && ee.Code > 0 {
		return ee.Code
	}
	return 1
}

// lineWriter turns a byte stream into whole lines for emit.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(string(l.buf[:i+1]))
		l.buf = l.buf[i+1:]
	}
	return len(b), nil
}

// Flush sends a last line without its newline.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf) + "\n")
		l.buf = nil
	}
}

func (s *Server) pruneBuildCache(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.cfg.PruneBuildCache == nil {
		return errImagesOnly
	}
	for _, k := range []string{"keep-storage", "reserved-space", "max-used-space", "min-free-space"} {
		if v := r.FormValue(k); v != "" && v != "0" {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return badRequest(fmt.Errorf("%s is in bytes and expects an integer, got %v", k, v))
			}
			return badRequest(fmt.Errorf("%s is not supported: berth's build cache is kept per layer, not per record", k))
		}
	}
	fs, err := parseFilters(r.FormValue("filters"))
	if err != nil {
		return err
	}
	if len(fs) > 0 {
		return badRequest(errors.New("build cache filters are not supported: berth's build cache is kept per layer, not per record"))
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	freed, err := s.cfg.PruneBuildCache(r.Context(), st, boolValue(r, "all"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, buildtypes.CachePruneReport{CachesDeleted: []string{}, SpaceReclaimed: uint64(max(freed, 0))})
}
