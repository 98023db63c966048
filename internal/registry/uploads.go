package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// uploadState is an upload session. Its chunks are separate objects (no
// append, no rename: an object store can hold them), so a session survives a
// restart and is resumed from Size, which GET reports.
type uploadState struct {
	Repo    string       `json:"repo"`
	Size    int64        `json:"size"`
	Parts   []uploadPart `json:"parts"` // ascending offsets
	Started time.Time    `json:"started"`
	// SHA256 is the marshalled sha256 state over the Size bytes received,
	// so that finishing a sha256 upload need not read the chunks again.
	SHA256 []byte `json:"sha256,omitempty"`
}

// uploadPart is one stored chunk.
type uploadPart struct {
	Offset int64  `json:"offset"`
	Nonce  string `json:"nonce"`
}

const maxStateSize = 1 << 20

func (s *Server) startUpload(w http.ResponseWriter, r *http.Request, name string) error {
	ctx := r.Context()
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" {
		mounted, err := s.mount(ctx, name, m, q.Get("from"))
		if err != nil {
			return err
		}
		if mounted {
			t := blobTarget(name, m, 0)
			t.FromRepository = q.Get("from")
			s.event(r, "mount", t)
			return blobCreated(w, name, m)
		}
		// The source is missing: fall back to a new upload, as the spec says.
	}
	if ds := q.Get("digest"); ds != "" {
		d, ok := parseDigest(ds)
		if !ok {
			return errDigestInvalid("invalid or unsupported digest " + untrusted.Quote(ds))
		}
		n, err := s.commitBlob(ctx, name, d, r.Body)
		if err != nil {
			return err
		}
		s.event(r, "push", blobTarget(name, d.String(), n))
		return blobCreated(w, name, d.String())
	}
	id, err := newUploadID()
	if err != nil {
		return err
	}
	st := &uploadState{Repo: name, Started: time.Now().UTC()}
	if _, err := s.putState(ctx, id, st, storage.Cond{IfNoneMatch: true}); err != nil {
		return err
	}
	return uploadAccepted(w, http.StatusAccepted, name, id, st.Size)
}

// mount links blob m from repository from into name; false (no error) when
// the source does not have it, so that the caller falls back to an upload.
// Without from, any blob the registry stores can be mounted (the spec's
// anonymous mount) when authentication is registry-wide (none or Basic), as
// no repository is then more private than another.
func (s *Server) mount(ctx context.Context, name, m, from string) (bool, error) {
	d, ok := parseDigest(m)
	if !ok {
		return false, errDigestInvalid("invalid or unsupported digest " + untrusted.Quote(m))
	}
	// Under token auth repositories are private to their grants: mount
	// only from a named repository the token may pull from.
	if g, ok := grantsFrom(ctx); ok && (from == "" || !g.allow("repository", from, "pull")) {
		return false, nil
	}
	if from != "" {
		if !validName(from) {
			return false, nil
		}
		if _, err := s.d.Stat(ctx, linkKey(from, d)); err != nil {
			return false, nil
		}
	}
	ctx, unlock, err := s.commitGuard(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, err := s.d.Stat(ctx, blobKey(d)); err != nil {
		return false, nil
	}
	return true, s.link(ctx, name, d)
}

func blobCreated(w http.ResponseWriter, name, d string) error {
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/"+d)
	h.Set("Docker-Content-Digest", d)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func uploadAccepted(w http.ResponseWriter, status int, name, id string, size int64) error {
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	h.Set("Docker-Upload-UUID", id)
	h.Set("Range", rangeHeader(size))
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}

func rangeHeader(size int64) string {
	if size <= 0 {
		return "0-0"
	}
	return "0-" + itoa(size-1)
}

func newUploadID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

func (s *Server) loadState(ctx context.Context, name, id string) (*uploadState, string, error) {
	if !validUploadID(id) {
		return nil, "", errBlobUploadUnknown()
	}
	data, etag, err := s.readSmall(ctx, uploadStateKey(id), maxStateSize)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", errBlobUploadUnknown()
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading upload %s: %w", id, err)
	}
	st := &uploadState{}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, "", fmt.Errorf("decoding upload %s: %w", id, err)
	}
	if st.Repo != name {
		return nil, "", errBlobUploadUnknown()
	}
	if etag == "" {
		return nil, "", errBlobUploadInvalid("upload is being modified concurrently")
	}
	return st, etag, nil
}

func (s *Server) putState(ctx context.Context, id string, st *uploadState, c storage.Cond) (storage.Info, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return storage.Info{}, err
	}
	info, err := s.d.Put(ctx, uploadStateKey(id), bytes.NewReader(data), c)
	if errors.Is(err, storage.ErrPrecondition) {
		return info, errBlobUploadInvalid("upload is being modified concurrently")
	}
	if err != nil {
		return info, fmt.Errorf("writing upload %s: %w", id, err)
	}
	return info, nil
}

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request, name, id string) error {
	ctx := r.Context()
	st, etag, err := s.loadState(ctx, name, id)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		return uploadAccepted(w, http.StatusNoContent, name, id, st.Size)
	case http.MethodPatch:
		if err := s.appendChunk(ctx, w, r, name, id, st, etag); err != nil {
			return err
		}
		return uploadAccepted(w, http.StatusAccepted, name, id, st.Size)
	case http.MethodPut:
		return s.finishUpload(ctx, w, r, name, id, st, etag)
	case http.MethodDelete:
		s.removeUpload(ctx, id, st)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return errUnsupported("method not allowed")
}

// checkContentRange enforces in-order chunks: a Content-Range must start where
// the session ends, or the request gets 416 with the current Range so the
// client can resume.
func checkContentRange(w http.ResponseWriter, r *http.Request, name, id string, st *uploadState) error {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return nil
	}
	cr = strings.TrimPrefix(cr, "bytes ")
	if i := strings.IndexByte(cr, '/'); i >= 0 {
		cr = cr[:i]
	}
	a, b, ok := strings.Cut(cr, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || start < 0 || end < start-1 {
		return rangeErr(w, name, id, st, "invalid Content-Range "+untrusted.Quote(r.Header.Get("Content-Range")))
	}
	if start != st.Size {
		return rangeErr(w, name, id, st, fmt.Sprintf("chunk starts at %d but the upload has %d bytes", start, st.Size))
	}
	if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return rangeErr(w, name, id, st, "Content-Length does not match Content-Range")
	}
	return nil
}

func rangeErr(w http.ResponseWriter, name, id string, st *uploadState, msg string) error {
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	h.Set("Range", rangeHeader(st.Size))
	h.Set("Docker-Upload-UUID", id)
	return errRangeInvalid(msg)
}

// appendChunk stores the request body as the next chunk, then records it in
// the session with a conditional write; st is updated on success.
func (s *Server) appendChunk(ctx context.Context, w http.ResponseWriter, r *http.Request, name, id string, st *uploadState, etag string) error {
	if err := checkContentRange(w, r, name, id, st); err != nil {
		return err
	}
	nonce, err := newUploadID()
	if err != nil {
		return err
	}
	part := uploadPart{Offset: st.Size, Nonce: nonce[:8]}
	key := uploadPartKey(id, part)
	h := resumeSHA256(st)
	var body io.Reader = r.Body
	if h != nil {
		body = io.TeeReader(r.Body, h)
	}
	cr := &countReader{r: body, max: s.maxBlobSize() - st.Size}
	if _, err := s.d.Put(ctx, key, cr, storage.Cond{}); err != nil {
		if errors.Is(err, errBlobTooLarge) {
			return errTooLarge("SIZE_INVALID", "blob exceeds the registry's size limit")
		}
		return fmt.Errorf("storing chunk: %w", err)
	}
	if cr.n == 0 {
		s.d.Delete(ctx, key)
		return nil
	}
	next := *st
	next.Parts = append(append([]uploadPart(nil), st.Parts...), part)
	next.Size += cr.n
	next.SHA256 = nil
	if h != nil {
		next.SHA256, _ = h.(encoding.BinaryMarshaler).MarshalBinary()
	}
	if _, err := s.putState(ctx, id, &next, storage.Cond{IfMatch: etag}); err != nil {
		s.d.Delete(ctx, key) // another request changed the session first
		return err
	}
	*st = next
	return nil
}

type countReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, errBlobTooLarge
	}
	return n, err
}

// finishUpload completes the session with PUT ?digest=: the stored chunks
// and the request body, in order, are verified and committed as the blob.
func (s *Server) finishUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, name, id string, st *uploadState, etag string) error {
	ds := r.URL.Query().Get("digest")
	d, ok := parseDigest(ds)
	if !ok {
		return errDigestInvalid("invalid or missing digest " + untrusted.Quote(ds))
	}
	if err := checkContentRange(w, r, name, id, st); err != nil {
		return err
	}
	if done, err := s.finishByMove(ctx, r, name, id, st, d); done || err != nil {
		if err != nil {
			return err
		}
		s.event(r, "push", blobTarget(name, d.String(), st.Size))
		return blobCreated(w, name, d.String())
	}
	if done, err := s.finishByCompose(ctx, w, r, name, id, st, etag, d); done || err != nil {
		if err != nil {
			return err
		}
		s.event(r, "push", blobTarget(name, d.String(), st.Size))
		return blobCreated(w, name, d.String())
	}
	readers := make([]io.Reader, 0, len(st.Parts)+1)
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for i, p := range st.Parts {
		end := st.Size
		if i+1 < len(st.Parts) {
			end = st.Parts[i+1].Offset
		}
		rd, err := s.d.Open(ctx, uploadPartKey(id, p))
		if errors.Is(err, storage.ErrNotFound) {
			return errBlobUploadUnknown() // finished or cancelled meanwhile
		}
		if err != nil {
			return fmt.Errorf("opening chunk of upload %s: %w", id, err)
		}
		closers = append(closers, rd)
		readers = append(readers, io.LimitReader(rd, end-p.Offset))
	}
	readers = append(readers, r.Body)
	n, err := s.commitBlob(ctx, name, d, io.MultiReader(readers...))
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == "DIGEST_INVALID" {
			// The session's content is known to be wrong: nothing to resume.
			s.removeUpload(ctx, id, st)
		}
		return err
	}
	s.removeUpload(ctx, id, st)
	s.event(r, "push", blobTarget(name, d.String(), n))
	return blobCreated(w, name, d.String())
}

// removeUpload deletes a session; leftovers are swept by GC.
func (s *Server) removeUpload(ctx context.Context, id string, st *uploadState) {
	s.d.Delete(ctx, uploadStateKey(id))
	for _, p := range st.Parts {
		s.d.Delete(ctx, uploadPartKey(id, p))
	}
}

// resumeSHA256 restores the running sha256 of an upload, or returns nil when
// the session has none (then the digest is computed when it finishes).
func resumeSHA256(st *uploadState) hash.Hash {
	h := sha256.New()
	if st.Size == 0 {
		return h
	}
	if st.SHA256 == nil || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.SHA256) != nil {
		return nil
	}
	return h
}

// finishByMove completes a one-chunk sha256 upload whose final PUT has no
// body without copying the chunk: the running hash proves the digest, and
// the driver moves the chunk to the blob's key (a rename on a filesystem,
// RenameObject on an object store that has it). It is tried before
// finishByCompose because docker, containerd and skopeo push each blob as
// one PATCH and an empty PUT: moved, its bytes are written to the store
// once. It reports false when the upload does not qualify.
func (s *Server) finishByMove(ctx context.Context, r *http.Request, name, id string, st *uploadState, d digest) (bool, error) {
	mv, ok := s.d.(storage.Mover)
	if !ok || r.ContentLength != 0 || len(st.Parts) != 1 || d.alg != "sha256" {
		return false, nil
	}
	h := resumeSHA256(st)
	if h == nil {
		return false, nil
	}
	if hexString(h.Sum(nil)) != d.hex {
		s.removeUpload(ctx, id, st)
		return true, errDigestInvalid("uploaded content does not match the digest")
	}
	err := s.storeAndLink(ctx, name, d, func(ctx context.Context, exists bool) error {
		if exists {
			return nil
		}
		err := mv.Move(ctx, uploadPartKey(id, st.Parts[0]), blobKey(d))
		if errors.Is(err, storage.ErrNotFound) {
			return errBlobUploadUnknown() // finished or cancelled meanwhile
		}
		if err != nil {
			return fmt.Errorf("storing blob: %w", err)
		}
		return nil
	})
	if err != nil {
		return true, err
	}
	s.removeUpload(ctx, id, st)
	return true, nil
}

// finishByCompose completes a sha256 upload on a driver that composes
// objects in the store (S3's UploadPartCopy): the running hash proves the
// digest, the final PUT's body (if any) is stored as one more chunk, and
// the chunks become the blob inside the store, so no chunk travels back
// through the registry. It reports false when the upload does not qualify.
func (s *Server) finishByCompose(ctx context.Context, w http.ResponseWriter, r *http.Request, name, id string, st *uploadState, etag string, d digest) (bool, error) {
	comp, ok := s.d.(storage.Composer)
	if !ok || d.alg != "sha256" || resumeSHA256(st) == nil {
		return false, nil
	}
	if r.ContentLength != 0 {
		if err := s.appendChunk(ctx, w, r, name, id, st, etag); err != nil {
			return true, err
		}
	}
	h := resumeSHA256(st)
	if h == nil {
		return true, errBlobUploadInvalid("upload state lost its running digest")
	}
	if hexString(h.Sum(nil)) != d.hex {
		s.removeUpload(ctx, id, st)
		return true, errDigestInvalid("uploaded content does not match the digest")
	}
	if st.Size > s.maxBlobSize() {
		return true, errTooLarge("SIZE_INVALID", "blob exceeds the registry's size limit")
	}
	err := s.storeAndLink(ctx, name, d, func(ctx context.Context, exists bool) error {
		if exists {
			return nil
		}
		srcs := make([]storage.Info, len(st.Parts))
		for i, p := range st.Parts {
			end := st.Size
			if i+1 < len(st.Parts) {
				end = st.Parts[i+1].Offset
			}
			srcs[i] = storage.Info{Key: uploadPartKey(id, p), Size: end - p.Offset}
		}
		if len(srcs) == 0 {
			if _, err := s.d.Put(ctx, blobKey(d), eofReader{}, storage.Cond{}); err != nil {
				return fmt.Errorf("storing blob: %w", err)
			}
			return nil
		}
		if _, err := comp.Compose(ctx, blobKey(d), srcs); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return errBlobUploadUnknown() // finished or cancelled meanwhile
			}
			return fmt.Errorf("storing blob: %w", err)
		}
		return nil
	})
	if err != nil {
		return true, err
	}
	s.removeUpload(ctx, id, st)
	return true, nil
}
