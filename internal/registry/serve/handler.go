package serve

import (
	"io"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/registry/config"
)

// wrap puts the configuration's HTTP behaviour around the registry:
// http.headers on every response, http.prefix (and http.host) on the paths
// and the Location and Link headers, and the health gate.
func wrap(c *config.Config, next http.Handler, h *healthChecks) http.Handler {
	prefix := c.HTTP.Prefix
	base := prefix
	if c.HTTP.Host != "" {
		base = strings.TrimSuffix(c.HTTP.Host, "/") + prefix
	}
	extra := c.HTTP.Headers
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range extra {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		if prefix != "" {
			rest, ok := strings.CutPrefix(r.URL.Path, prefix)
			if !ok || (rest != "" && rest[0] != '/') {
				http.NotFound(w, r)
				return
			}
			if rest == "" {
				rest = "/"
			}
			r2 := *r
			u := *r.URL
			u.Path, u.RawPath = rest, ""
			r2.URL = &u
			r = &r2
		}
		if base != "" {
			w = &locationWriter{ResponseWriter: w, base: base}
		}
		if h != nil && h.refuse(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// locationWriter puts base (http.prefix, or http.host and the prefix) in
// front of the registry's root-relative Location and Link headers. It
// forwards ReadFrom so that blobs still leave with sendfile.
type locationWriter struct {
	http.ResponseWriter
	base string
	done bool
}

func (w *locationWriter) fix() {
	if w.done {
		return
	}
	w.done = true
	h := w.Header()
	if l := h.Get("Location"); strings.HasPrefix(l, "/") {
		h.Set("Location", w.base+l)
	}
	if l := h.Get("Link"); strings.HasPrefix(l, "</") {
		h.Set("Link", "<"+w.base+l[1:])
	}
}

func (w *locationWriter) WriteHeader(code int) { w.fix(); w.ResponseWriter.WriteHeader(code) }

func (w *locationWriter) Write(p []byte) (int, error) { w.fix(); return w.ResponseWriter.Write(p) }

func (w *locationWriter) ReadFrom(r io.Reader) (int64, error) {
	w.fix()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *locationWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
