package remote

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sys/unix"
)

// maxAttempts is how many times one run tries a blob whose connection broke
// mid-transfer; each retry continues from the bytes already on disk.
const maxAttempts = 4

// copyBufSize is the buffer for streaming a blob to disk: large enough that
// the syscall and hashing overhead per byte is negligible.
const copyBufSize = 1 << 20

// fetchBlob downloads one blob into o.PartialDir (or a temp file), resuming
// from what a previous attempt or run left there with an HTTP Range request,
// verifies size and digest, and hands it to sink.
func (c *Client) fetchBlob(ctx context.Context, f *repoFetcher, d v1.Descriptor, sink BlobSink, o PullOptions) error {
	if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 {
		return fmt.Errorf("blob %s: unsupported digest", d.Digest)
	}
	if d.Size < 0 {
		return fmt.Errorf("blob %s: negative size", d.Digest)
	}
	id := ShortID(d.Digest)
	layer := d.MediaType.IsLayer() || (!d.MediaType.IsConfig() && d.MediaType != "")
	status := func(s string) {
		if layer {
			o.Progress.Status(id, s)
		}
	}
	pf, err := openPartial(o.PartialDir, d.Digest)
	if err != nil {
		return err
	}
	defer pf.close()
	// When the file itself will become the stored blob, write it straight
	// to the disk (fsutil.DirectWriter) while the download goes on: no
	// page-cache copy, and the final fsync has nothing left to push.
	// Otherwise, when the sink takes streams it verifies itself, feed it as
	// the bytes arrive: the partial file then only serves a later resume and
	// the sink does the hashing.
	var h hash.Hash = sha256.New()
	if _, ok := sink.(BlobFileSink); ok {
		pf.direct = true
	} else if ws, ok := sink.(BlobWriterSink); ok {
		pf.newTee = ws.NewBlobWriter
		if pf.tee, err = ws.NewBlobWriter(); err != nil {
			return fmt.Errorf("storing blob %s: %w", d.Digest, err)
		}
		h = nopHash{}
	}

	// Rebuild the hash state of what is already on disk.
	off, err := pf.resumeState(d, h)
	if err != nil {
		return err
	}
	if off > 0 {
		c.log.Debug("resuming blob", "digest", d.Digest, "bytes", off)
	}
	buf := make([]byte, copyBufSize)
	for attempt := 1; off < d.Size || (d.Size == 0 && attempt == 1); attempt++ {
		n, err := f.getRange(ctx, d, off, pf, h, buf, func(done int64) {
			if layer {
				o.Progress.Bytes(id, done, d.Size)
			}
		}, status)
		if errors.Is(err, errRestart) {
			off, n, err = 0, 0, nil
			h.Reset()
			if err := pf.truncate(); err != nil {
				return err
			}
			attempt--
			continue
		}
		off += n
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= maxAttempts || !transient(err) {
			return fmt.Errorf("downloading blob %s: %w", d.Digest, err)
		}
		status(fmt.Sprintf("Retrying in %d second", attempt))
		c.log.Debug("blob transfer broke; retrying", "digest", d.Digest, "bytes", off, "err", err)
		select {
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	status("Verifying Checksum")
	if off != d.Size {
		pf.discard()
		return fmt.Errorf("blob %s: %w: got %d bytes, want %d", d.Digest, errDigest, off, d.Size)
	}
	if _, tee := h.(nopHash); !tee {
		if got := (v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}); got != d.Digest {
			pf.discard()
			return fmt.Errorf("blob %s: %w: content has digest %s", d.Digest, errDigest, got)
		}
	}
	status("Download complete")
	if err := pf.commit(ctx, sink, d); err != nil {
		return fmt.Errorf("storing blob %s: %w", d.Digest, err)
	}
	status("Pull complete")
	return nil
}

// errRestart says the server ignored our Range and sent the whole blob.
var errRestart = errors.New("server restarted the transfer")

// getRange GETs the blob from byte off on, appending to w and h. It returns
// the number of bytes written.
func (f *repoFetcher) getRange(ctx context.Context, d v1.Descriptor, off int64, w io.Writer, h hash.Hash, buf []byte, progress func(int64), status func(string)) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/blobs/"+d.Digest.String(), nil)
	if err != nil {
		return 0, err
	}
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case off > 0 && resp.StatusCode == http.StatusPartialContent:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != off {
			return 0, errRestart
		}
	case off > 0 && resp.StatusCode == http.StatusOK:
		// The registry does not do ranges: take the whole body from zero.
		return 0, errRestart
	case off > 0 && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return 0, errRestart
	default:
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			return 0, err
		}
	}
	status("Downloading")
	remaining := d.Size - off
	if resp.ContentLength >= 0 && resp.ContentLength != remaining {
		return 0, fmt.Errorf("registry sent %d bytes, expected %d", resp.ContentLength, remaining)
	}
	// Never read past the declared size: a lying registry cannot fill the disk.
	body := io.LimitReader(resp.Body, remaining+1)
	bw, _ := w.(interface{ Buffer() []byte })
	var n int64
	for {
		// Read straight into the writer's own buffer when it has one (the
		// direct writer's chunk): the bytes are then copied once, from the
		// socket.
		rb := buf
		if bw != nil {
			if b := bw.Buffer(); len(b) > 0 {
				rb = b
			}
		}
		k, rerr := body.Read(rb)
		if k > 0 {
			if n+int64(k) > remaining {
				return n, fmt.Errorf("registry sent more than %d bytes", d.Size)
			}
			h.Write(rb[:k])
			if _, err := w.Write(rb[:k]); err != nil {
				return n, err
			}
			n += int64(k)
			progress(off + n)
		}
		if rerr == io.EOF {
			if n < remaining {
				return n, io.ErrUnexpectedEOF
			}
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func contentRangeStart(v string) (int64, bool) {
	// RFC 9110 14.4: "bytes" SP first-pos "-" last-pos "/" (length | "*").
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	span, total, ok := strings.Cut(rest, "/")
	if !ok || (total != "*" && !digits(total)) {
		return 0, false
	}
	first, last, ok := strings.Cut(span, "-")
	if !ok || !digits(first) || !digits(last) {
		return 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || end < start {
		return 0, false
	}
	return start, true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// transient reports whether a failed transfer is worth continuing: broken
// connections and server-side 5xx, not auth or not-found answers.
func transient(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "unexpected EOF") || strings.Contains(s, "broken pipe") || strings.Contains(s, "timeout")
}

// partialFile is a blob download in progress, locked against another berth
// process pulling the same blob at the same time.
type partialFile struct {
	f    *os.File
	path string
	temp bool // not in a resume area: always removed

	direct bool                 // the file becomes the blob: write it with dw
	dw     *fsutil.DirectWriter // set by resumeState when direct
	off    int64                // bytes in the file

	tee    BlobWriter // the sink's writer, fed the same bytes, when it has one
	newTee func() (BlobWriter, error)
}

func (p *partialFile) Write(b []byte) (int, error) {
	if p.dw != nil {
		n, err := p.dw.Write(b)
		p.off += int64(n)
		return n, err
	}
	n, err := p.f.Write(b)
	if err == nil && p.tee != nil {
		_, err = p.tee.Write(b[:n])
	}
	p.off += int64(n)
	return n, err
}

// Buffer is the direct writer's free buffer (see fsutil.DirectWriter), nil
// without one.
func (p *partialFile) Buffer() []byte {
	if p.dw == nil {
		return nil
	}
	return p.dw.Buffer()
}

// startDirect starts the direct writer at the file's end, off.
func (p *partialFile) startDirect(off int64) {
	if p.direct {
		p.dw = fsutil.NewDirectWriter(p.f, off)
	}
}

func openPartial(dir string, d v1.Hash) (*partialFile, error) {
	temp := dir == ""
	var f *os.File
	var err error
	if temp {
		f, err = os.CreateTemp("", "berth-blob-*")
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating partial download area: %w", err)
		}
		f, err = os.OpenFile(filepath.Join(dir, d.Algorithm+"-"+d.Hex), os.O_RDWR|os.O_CREATE, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("opening partial download: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking partial download: %w", err)
	}
	return &partialFile{f: f, path: f.Name(), temp: temp}, nil
}

// resumeState hashes the bytes already in the file into h and positions the
// file at their end. A file longer than the blob is started over.
func (p *partialFile) resumeState(d v1.Descriptor, h hash.Hash) (int64, error) {
	st, err := p.f.Stat()
	if err != nil {
		return 0, err
	}
	off := st.Size()
	if off > d.Size {
		return 0, p.truncate()
	}
	if off > 0 {
		if _, err := p.f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		var w io.Writer = h
		if p.tee != nil {
			w = io.MultiWriter(h, p.tee)
		}
		if _, err := io.CopyN(w, p.f, off); err != nil {
			return 0, p.truncate()
		}
	}
	if _, err := p.f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	p.off = off
	p.startDirect(off)
	return off, nil
}

func (p *partialFile) truncate() error {
	p.off = 0
	if p.dw != nil {
		p.dw.Abort()
		p.dw = nil
	}
	if p.tee != nil {
		p.tee.Abort()
		var err error
		if p.tee, err = p.newTee(); err != nil {
			return err
		}
	}
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	p.startDirect(0)
	return nil
}

func (p *partialFile) discard() {
	os.Remove(p.path)
}

// commit moves the verified file into sink: by rename when the sink allows
// it, by committing the sink's writer that was fed along the way (the sink
// verifies the digest), else by copying through WriteBlob (which verifies
// again).
func (p *partialFile) commit(ctx context.Context, sink BlobSink, d v1.Descriptor) error {
	if p.tee != nil {
		_, _, err := p.tee.Commit(d.Digest)
		p.tee = nil
		if err != nil {
			p.discard() // wrong bytes: a resume from them would fail again
			return fmt.Errorf("%w: %v", errDigest, err)
		}
		os.Remove(p.path)
		return nil
	}
	if fs, ok := sink.(BlobFileSink); ok {
		if p.dw != nil {
			err := p.dw.Finish()
			p.dw = nil
			if err != nil {
				return err
			}
		} else if err := p.f.Sync(); err != nil {
			return err
		}
		if err := fs.AdoptBlob(ctx, d.Digest, d.Size, p.path); err != nil {
			return err
		}
		os.Remove(p.path) // gone already when adopted by rename
		return nil
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := sink.WriteBlob(ctx, d.Digest, d.Size, p.f); err != nil {
		return err
	}
	os.Remove(p.path)
	return nil
}

func (p *partialFile) close() {
	if p.dw != nil {
		p.dw.Close() // keep what arrived for a resume; an error loses only that
	}
	if p.tee != nil {
		p.tee.Abort()
	}
	p.f.Close()
	if p.temp {
		os.Remove(p.path)
	}
}

// nopHash stands in for the digest when the sink verifies the stream itself.
type nopHash struct{}

func (nopHash) Write(b []byte) (int, error) { return len(b), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return sha256.Size }
func (nopHash) BlockSize() int              { return sha256.BlockSize }
