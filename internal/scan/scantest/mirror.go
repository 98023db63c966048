package scantest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mirror serves exports the way osv.dev's bucket
// (osv-vulnerabilities.storage.googleapis.com) does: <base>/<Ecosystem>/all.zip
// with ETag, Last-Modified, Content-Length and x-goog-hash (crc32c and
// md5), byte ranges, If-Range and conditional requests (net/http's
// ServeContent implements them), and <base>/ecosystems.txt. It can cut a
// response after some bytes, as a dropped connection does.
type Mirror struct {
	mu    sync.Mutex
	files map[string]mirrorFile // path -> object
	cuts  map[string]mirrorCut  // path -> how its next responses break
	log   []MirrorRequest
	// NoRanges makes it ignore Range headers (a server that cannot resume).
	NoRanges bool
}

type mirrorCut struct {
	after int64 // bytes of body before the break
	times int   // responses still to break; -1: all
}

type mirrorFile struct {
	data []byte
	etag string
	mod  time.Time
	hash string
}

// MirrorRequest is one request the mirror answered.
type MirrorRequest struct {
	Path, Range, IfNoneMatch string
	Status                   int
	Bytes                    int64
}

// NewMirror returns an empty mirror.
func NewMirror() *Mirror {
	return &Mirror{files: map[string]mirrorFile{}, cuts: map[string]mirrorCut{}}
}

// Put publishes an export of ecosystem, dated mod.
func (m *Mirror) Put(ecosystem string, zip []byte, mod time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sum := sha256.Sum256(zip)
	md := md5.Sum(zip)
	crc := binary.BigEndian.AppendUint32(nil, crc32.Checksum(zip, crc32.MakeTable(crc32.Castagnoli)))
	m.files["/"+ecosystem+"/all.zip"] = mirrorFile{
		data: zip, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, mod: mod.UTC().Truncate(time.Second),
		hash: "crc32c=" + base64.StdEncoding.EncodeToString(crc) + ",md5=" + base64.StdEncoding.EncodeToString(md[:]),
	}
	var ecos []string
	for p := range m.files {
		if e, ok := strings.CutSuffix(strings.TrimPrefix(p, "/"), "/all.zip"); ok {
			ecos = append(ecos, e)
		}
	}
	slices.Sort(ecos)
	list := []byte(strings.Join(ecos, "\n") + "\n")
	m.files["/ecosystems.txt"] = mirrorFile{data: list, etag: `"list"`, mod: mod}
}

// CutNext breaks the next response for ecosystem's export after n bytes of
// body.
func (m *Mirror) CutNext(ecosystem string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cuts["/"+ecosystem+"/all.zip"] = mirrorCut{after: n, times: 1}
}

// CutEvery breaks every response for ecosystem's export after n bytes of
// body, a connection too poor to finish; n < 0 stops it.
func (m *Mirror) CutEvery(ecosystem string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n < 0 {
		delete(m.cuts, "/"+ecosystem+"/all.zip")
		return
	}
	m.cuts["/"+ecosystem+"/all.zip"] = mirrorCut{after: n, times: -1}
}

// Requests returns what the mirror has answered so far.
func (m *Mirror) Requests() []MirrorRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.log)
}

// BytesServed is the body bytes sent for ecosystem's export.
func (m *Mirror) BytesServed(ecosystem string) int64 {
	var n int64
	for _, r := range m.Requests() {
		if r.Path == "/"+ecosystem+"/all.zip" {
			n += r.Bytes
		}
	}
	return n
}

func (m *Mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := url.PathUnescape(r.URL.EscapedPath())
	if err != nil {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	f, ok := m.files[p]
	cut, cutting := m.cuts[p]
	if cutting && cut.times > 0 {
		if cut.times--; cut.times == 0 {
			delete(m.cuts, p)
		} else {
			m.cuts[p] = cut
		}
	}
	noRanges := m.NoRanges
	m.mu.Unlock()
	cw := &countingWriter{ResponseWriter: w, status: http.StatusOK, cut: -1}
	if cutting {
		cw.cut = cut.after
	}
	defer func() {
		m.mu.Lock()
		m.log = append(m.log, MirrorRequest{Path: p, Range: r.Header.Get("Range"), IfNoneMatch: r.Header.Get("If-None-Match"), Status: cw.status, Bytes: cw.n})
		m.mu.Unlock()
	}()
	if !ok {
		cw.status = http.StatusNotFound
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	if noRanges {
		r.Header.Del("Range")
	}
	w.Header().Set("ETag", f.etag)
	if f.hash != "" {
		w.Header().Set("X-Goog-Hash", f.hash)
	}
	w.Header().Set("Content-Type", "application/zip")
	http.ServeContent(cw, r, "", f.mod, bytes.NewReader(f.data))
}

// countingWriter counts body bytes and, when cut is set, drops the
// connection after that many.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
	cut    int64
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.cut >= 0 && c.n+int64(len(p)) > c.cut {
		k := c.cut - c.n
		n, _ := c.ResponseWriter.Write(p[:k])
		c.n += int64(n)
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		// net/http closes the connection mid-body: the client sees an
		// unexpected EOF, as when a network drops.
		panic(http.ErrAbortHandler)
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}
