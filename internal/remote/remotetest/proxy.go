package remotetest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Proxy is an HTTP proxy in front of a registry, for tests that need the
// network to misbehave (slow or cut blob bodies, busy manifests) while a
// real registry does the protocol. It records the Range header of every
// blob GET, so a test can see what a resumed pull asked for.
type Proxy struct {
	// Upstream is the registry's host:port.
	Upstream string
	// Intercept, if set, sees each request first; it returns true when it
	// has answered the request itself, which then goes no further.
	Intercept func(w http.ResponseWriter, r *http.Request) bool
	// CopyBody, if set, writes the upstream response body to w in place
	// of io.Copy (the status and headers are already sent), e.g. slowly or
	// cut short.
	CopyBody func(w http.ResponseWriter, r *http.Request, body io.Reader)

	mu       sync.Mutex
	blobGets []blobGet
}

type blobGet struct{ digest, rng string }

// Start serves p on 127.0.0.1 until the test ends and returns its
// host:port.
func (p *Proxy) Start(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d, ok := BlobGet(r); ok {
		p.mu.Lock()
		p.blobGets = append(p.blobGets, blobGet{d, r.Header.Get("Range")})
		p.mu.Unlock()
	}
	if p.Intercept != nil && p.Intercept(w, r) {
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.Upstream+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	if p.CopyBody != nil {
		p.CopyBody(w, r, resp.Body)
		return
	}
	io.Copy(w, resp.Body)
}

// Ranges returns, in order, the Range header ("" for none) of each blob
// GET so far: of the blob digest, or of every blob when digest is "".
func (p *Proxy) Ranges(digest string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, g := range p.blobGets {
		if digest == "" || g.digest == digest {
			out = append(out, g.rng)
		}
	}
	return out
}

// BlobGet reports whether r is a GET of a blob (/v2/NAME/blobs/DIGEST, not
// an upload) and of which digest.
func BlobGet(r *http.Request) (digest string, ok bool) {
	if r.Method != http.MethodGet {
		return "", false
	}
	i := strings.LastIndex(r.URL.Path, "/blobs/")
	if i < 0 {
		return "", false
	}
	d := r.URL.Path[i+len("/blobs/"):]
	if !strings.Contains(d, ":") || strings.Contains(d, "/") {
		return "", false
	}
	return d, true
}
