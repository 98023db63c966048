package ui

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/registry"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the pages; the zero value serves them at /ui/.
type Options struct {
	// Prefix is http.prefix: the path the registry is mounted under, put
	// in front of every link.
	Prefix string
	// PullHost is the registry's name in the `docker pull` lines; "" takes
	// the request's Host.
	PullHost string
	Logger   *slog.Logger
	// DiveMax bounds the layer analyses kept in memory (default 64).
	DiveMax int
}

// Handler serves the pages. The registry.Server in front of it has already
// authenticated the request.
type Handler struct {
	reg    *registry.Server
	opts   Options
	log    *slog.Logger
	pages  map[string]*template.Template
	static map[string]staticFile
	// assetVersion is a hash of the assets, in their URLs, so a browser may
	// cache them for long and still never use a stale one.
	assetVersion string
	sums         summaryCache
	counts       countCache
	dive         *diveCache
}

type staticFile struct {
	body  []byte
	ctype string
}

// New returns the pages over reg; registry.Options.Pages calls it.
func New(reg *registry.Server, opts Options) *Handler {
	h := &Handler{reg: reg, opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.opts.Prefix = strings.TrimSuffix(opts.Prefix, "/")
	h.static = map[string]staticFile{}
	sum := sha256.New()
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := staticFS.ReadFile(p)
		ct := "text/css; charset=utf-8"
		if strings.HasSuffix(p, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		h.static[strings.TrimPrefix(p, "static/")] = staticFile{b, ct}
		sum.Write(b)
		return nil
	})
	h.assetVersion = hex.EncodeToString(sum.Sum(nil))[:12]
	h.pages = parseTemplates(h.funcs())
	h.dive = newDiveCache(opts.DiveMax)
	return h
}

// The page paths, below Prefix. Repository names contain slashes but no
// component is "-", so "/-/" ends the name.
const (
	pathUI     = "/ui/"
	pathStatic = "/ui/static/"
	pathRepo   = "/ui/r/"
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, pathStatic); ok {
		h.serveStatic(w, r, rest)
		return
	}
	post := r.Method == http.MethodPost
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !post {
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.fail(w, r, http.StatusMethodNotAllowed, "This page takes GET and POST only.")
		return
	}
	switch {
	case p == "/" || p == "/ui" || p == pathUI:
		if post {
			h.fail(w, r, http.StatusMethodNotAllowed, "This page takes GET only.")
			return
		}
		h.repositories(w, r)
		return
	case strings.HasPrefix(p, pathRepo):
		name, sub, _ := strings.Cut(strings.TrimPrefix(p, pathRepo), "/-/")
		name = strings.TrimSuffix(name, "/")
		if !h.reg.Allowed(r, "repository", name, "pull") {
			h.fail(w, r, http.StatusForbidden, "You may not read this repository.")
			return
		}
		kind, arg, _ := strings.Cut(sub, "/")
		if post && kind != "delete" {
			h.fail(w, r, http.StatusMethodNotAllowed, "This page takes GET only.")
			return
		}
		switch kind {
		case "":
			h.repository(w, r, name)
			return
		case "tag":
			h.tag(w, r, name, arg)
			return
		case "manifest":
			if dg, ok := strings.CutSuffix(arg, "/dive"); ok {
				h.diveView(w, r, name, dg)
				return
			}
			h.manifest(w, r, name, arg, "")
			return
		case "delete":
			h.delete(w, r, name)
			return
		}
	}
	h.fail(w, r, http.StatusNotFound, "There is no such page.")
}

// securityHeaders: nothing inline may run or style, nothing may frame the
// pages, and only this origin's forms may be sent.
func securityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := h.static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ctype)
	if r.URL.Query().Get("v") == h.assetVersion {
		w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// render executes a page into a buffer first, so that a template error
// becomes a 500 page instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	var buf bytes.Buffer
	err := h.pages[page].ExecuteTemplate(&buf, "layout", h.frame(r, data))
	if err != nil {
		h.log.Error("rendering page", "page", page, "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		h.pages["error"].ExecuteTemplate(&buf, "layout", h.frame(r, errorData{Status: status, Title: http.StatusText(status), Message: "The page could not be drawn."}))
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

type errorData struct {
	Status  int
	Title   string
	Message string
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", errorData{Status: status, Title: http.StatusText(status), Message: msg})
}

// failErr answers with the status the API would give err.
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "There is no such "+what+" in this registry.")
	case errors.Is(err, registry.ErrInvalid):
		h.fail(w, r, http.StatusBadRequest, "That is not a valid "+what+" name or reference.")
	case errors.Is(err, registry.ErrDenied):
		h.fail(w, r, http.StatusForbidden, "You may not do this here.")
	case errors.Is(err, registry.ErrDeleteRefused):
		h.fail(w, r, http.StatusMethodNotAllowed, "Deleting is not possible on this registry.")
	case registry.Unavailable(err) && r.Context().Err() == nil:
		w.Header().Set("Retry-After", "5")
		h.fail(w, r, http.StatusServiceUnavailable, "The registry's storage is unavailable; try again shortly.")
	default:
		h.log.Error("page failed", "path", r.URL.Path, "err", err)
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong reading the registry; the server log says what.")
	}
}

// frame is what every page's layout needs besides the page's own data.
type frame struct {
	Prefix string
	Assets string
	Host   string
	Page   any
}

func (h *Handler) frame(r *http.Request, page any) frame {
	return frame{Prefix: h.opts.Prefix, Assets: h.assetVersion, Host: h.pullHost(r), Page: page}
}

func (h *Handler) pullHost(r *http.Request) string {
	if h.opts.PullHost != "" {
		return h.opts.PullHost
	}
	return r.Host
}

// link builds a page URL below the prefix; the parts are already valid
// names, tags or digests (the registry's character sets need no escaping
// in a path), and query values are escaped.
func (h *Handler) link(path string, query ...string) string {
	u := h.opts.Prefix + path
	if len(query) > 0 {
		v := url.Values{}
		for i := 0; i+1 < len(query); i += 2 {
			if query[i+1] != "" {
				v.Set(query[i], query[i+1])
			}
		}
		if e := v.Encode(); e != "" {
			u += "?" + e
		}
	}
	return u
}

// CSRF: a random token in a SameSite=Strict cookie that the delete form
// repeats. A cross-site page can neither read the cookie nor make the
// browser send it, and the browser's Sec-Fetch-Site and Origin headers are
// checked too where it sends them. The cookie is the same on every replica,
// so a form shown by one may be sent to another.
const csrfCookie = "berth_csrf"

func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
		if _, err := hex.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	var b [32]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: h.opts.Prefix + pathUI, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return tok
}

func (h *Handler) csrfOK(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	c, err := r.Cookie(csrfCookie)
	form := r.PostFormValue("csrf")
	return err == nil && len(c.Value) == 64 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) == 1
}
