package registry

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"hash"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
)

func (s *Server) handleBlob(w http.ResponseWriter, r *http.Request, name, ref string) error {
	d, ok := parseDigest(ref)
	if !ok {
		return errDigestInvalid("invalid or unsupported digest " + untrusted.Quote(ref))
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.getBlob(w, r, name, d)
	case http.MethodDelete:
		return s.deleteBlob(w, r, name, d)
	}
	return errUnsupported("method not allowed")
}

// getBlob serves a blob with http.ServeContent: Range, If-None-Match and HEAD
// come from net/http, and the filesystem driver's *os.File goes out with
// sendfile.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, name string, d digest) error {
	ctx := r.Context()
	if _, err := s.d.Stat(ctx, linkKey(name, d)); err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if s.opts.Upstream == nil {
			return errBlobUnknown()
		}
		if err := s.proxyBlob(ctx, name, d); err != nil {
			return err
		}
	}
	h := w.Header()
	if rd, ok := s.d.(storage.Redirector); ok && s.opts.Redirect && r.Method == http.MethodGet {
		if _, err := s.d.Stat(ctx, blobKey(d)); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return errBlobUnknown()
			}
			return err
		}
		u, err := rd.RedirectURL(ctx, blobKey(d), r.Method)
		if err != nil {
			return err
		}
		if u != "" {
			h.Set("Docker-Content-Digest", d.String())
			h.Set("Location", u)
			w.WriteHeader(http.StatusTemporaryRedirect)
			s.event(r, "pull", blobTarget(name, d.String(), 0))
			return nil
		}
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("ETag", `"`+d.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	if r.Method == http.MethodHead && r.Header.Get("Range") == "" && r.Header.Get("If-None-Match") == "" {
		// The common HEAD (does the registry have it?) needs no open file.
		info, err := s.d.Stat(ctx, blobKey(d))
		if errors.Is(err, storage.ErrNotFound) {
			return errBlobUnknown()
		}
		if err != nil {
			return err
		}
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", itoa(info.Size))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	rd, err := s.d.Open(ctx, blobKey(d))
	if errors.Is(err, storage.ErrNotFound) {
		return errBlobUnknown()
	}
	if err != nil {
		return err
	}
	defer rd.Close()
	http.ServeContent(w, r, "", time.Time{}, rd)
	if r.Method == http.MethodGet && s.opts.Events != nil {
		size, _ := rd.Seek(0, io.SeekEnd)
		s.event(r, "pull", blobTarget(name, d.String(), size))
	}
	return nil
}

func (s *Server) deleteBlob(w http.ResponseWriter, r *http.Request, name string, d digest) error {
	err := s.d.Delete(r.Context(), linkKey(name, d))
	if errors.Is(err, storage.ErrNotFound) {
		return errBlobUnknown()
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	s.event(r, "delete", EventTarget{Repository: name, Digest: d.String()})
	return nil
}

// errDigestMismatch ends a verifying read whose content is not what the
// client claimed; the driver then discards what it wrote.
var errDigestMismatch = errors.New("content does not match digest")

var errBlobTooLarge = errors.New("blob exceeds the size limit")

// verifier hashes what passes through it and, at EOF, fails instead of
// returning io.EOF when the digest is wrong.
type verifier struct {
	r    io.Reader
	h    hash.Hash
	want digest
	n    int64
	max  int64
}

func newVerifier(r io.Reader, want digest, max int64) *verifier {
	return &verifier{r: r, h: newHash(want.alg), want: want, max: max}
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.max > 0 && v.n > v.max {
		return n, errBlobTooLarge
	}
	if err == io.EOF && hexString(v.h.Sum(nil)) != v.want.hex {
		return n, errDigestMismatch
	}
	return n, err
}

// commitBlob stores what r yields as blob d of repository name: it verifies
// the digest on the way, writes the blob unless it is already stored, and
// links it into the repository, so that garbage collection never sweeps
// the blob between its write and its link (storeAndLink).
func (s *Server) commitBlob(ctx context.Context, name string, d digest, r io.Reader) (int64, error) {
	v := newVerifier(r, d, s.maxBlobSize())
	err := s.storeAndLink(ctx, name, d, func(ctx context.Context, exists bool) error {
		if exists {
			if _, err := io.Copy(io.Discard, v); err != nil {
				return blobErr(err)
			}
			return nil
		}
		if _, err := s.d.Put(ctx, blobKey(d), v, storage.Cond{}); err != nil {
			return blobErr(err)
		}
		return nil
	})
	return v.n, err
}

// storeAndLink makes blob d exist and links it into repository name: write
// is told whether the blob is already stored and stores it when it is not.
// With a driver lock, both happen under the lock's shared side (garbage
// collection takes the exclusive one); with the lease, the write happens
// first, as it may take long, and the link in the fence, after checking
// that the blob is still there.
func (s *Server) storeAndLink(ctx context.Context, name string, d digest, write func(ctx context.Context, exists bool) error) error {
	if s.locker != nil {
		unlock, err := s.locker.Lock(ctx, gcLockName, false)
		if err != nil {
			return err
		}
		defer unlock()
	}
	_, err := s.d.Stat(ctx, blobKey(d))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if err := write(ctx, err == nil); err != nil {
		return err
	}
	if s.locker != nil {
		return s.link(ctx, name, d)
	}
	fctx, done, err := s.fence(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := s.d.Stat(fctx, blobKey(d)); errors.Is(err, storage.ErrNotFound) {
		return errCollected
	} else if err != nil {
		return err
	}
	return s.link(fctx, name, d)
}

func blobErr(err error) error {
	switch {
	case errors.Is(err, errDigestMismatch):
		return errDigestInvalid("uploaded content does not match the digest")
	case errors.Is(err, errBlobTooLarge):
		return errTooLarge("SIZE_INVALID", "blob exceeds the registry's size limit")
	}
	return fmt.Errorf("storing blob: %w", err)
}

func (s *Server) link(ctx context.Context, name string, d digest) error {
	if _, err := s.d.Stat(ctx, linkKey(name, d)); err == nil {
		return nil
	}
	if _, err := s.d.Put(ctx, linkKey(name, d), eofReader{}, storage.Cond{}); err != nil {
		return fmt.Errorf("linking blob: %w", err)
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

const gcLockName = "gc"

func (s *Server) maxBlobSize() int64 { return s.opts.MaxBlobSize }

// blobCache keeps small immutable blobs (manifests) in memory, bounded by
// total size. Content-addressed bytes never go stale, and a manifest is
// served only while the repository metadata lists it.
type blobCache struct {
	mu   sync.RWMutex
	m    map[string][]byte
	size int64
	max  int64
}

func (c *blobCache) get(k string) ([]byte, bool) {
	c.mu.RLock()
	b, ok := c.m[k]
	c.mu.RUnlock()
	return b, ok
}

func (c *blobCache) put(k string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	if _, ok := c.m[k]; ok {
		return
	}
	if c.size+int64(len(b)) > c.max {
		clear(c.m)
		c.size = 0
	}
	c.m[k] = b
	c.size += int64(len(b))
}
