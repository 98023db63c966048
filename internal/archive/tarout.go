package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
)

// tarOut writes a tar stream with two fast paths for blobs, the bulk of
// every archive:
//
//   - into a regular file, blob bytes go from the store's file by
//     copy_file_range (os.File.ReadFrom), never through user space;
//   - the digest check runs on another goroutine, reading the source with
//     pread (or from a copy of each chunk), so hashing overlaps the copy.
//
// Headers come from archive/tar, so the bytes are those tar.Writer would
// write: a 512-byte header (plus PAX records when needed), the content,
// zero padding to 512 bytes, and two zero blocks at the end.
type tarOut struct {
	bw  *bufio.Writer
	dst *os.File // set when the destination is a regular file
	buf []byte
}

func newTarOut(w io.Writer) *tarOut {
	t := &tarOut{bw: bufio.NewWriterSize(w, 256<<10), buf: make([]byte, 1<<20)}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			t.dst = f
		}
	}
	return t
}

const blockSize = 512

var zeroBlock [2 * blockSize]byte

func (t *tarOut) header(h *tar.Header) error {
	var b bytes.Buffer
	// A tar.Writer writes a header as soon as it is given one; the content
	// and padding that follow are written here instead.
	if err := tar.NewWriter(&b).WriteHeader(h); err != nil {
		return err
	}
	_, err := t.bw.Write(b.Bytes())
	return err
}

func (t *tarOut) pad(size int64) error {
	if r := size % blockSize; r != 0 {
		_, err := t.bw.Write(zeroBlock[:blockSize-r])
		return err
	}
	return nil
}

func (t *tarOut) file(name string, b []byte) error {
	if err := t.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644, ModTime: epoch}); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := t.bw.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return t.pad(int64(len(b)))
}

func (t *tarOut) close() error {
	if _, err := t.bw.Write(zeroBlock[:]); err != nil {
		return fmt.Errorf("writing archive: %w", err)
	}
	if err := t.bw.Flush(); err != nil {
		return fmt.Errorf("writing archive: %w", err)
	}
	return nil
}

// blob streams one blob into the archive and checks it against its digest:
// the store verified it when it was written, but a disk can rot and an
// archive must not carry a blob that does not match its name.
func (t *tarOut) blob(ctx context.Context, b *blobSource) error {
	name := blobPath("sha256", b.digest.Hex)
	if b.data != nil {
		if got := sha256Hash(b.data); got != b.digest {
			return fmt.Errorf("blob %s: content has digest %s", b.digest, got)
		}
		return t.file(name, b.data)
	}
	rc, err := b.open()
	if err != nil {
		return fmt.Errorf("opening blob %s: %w", b.digest, err)
	}
	defer rc.Close()
	if err := t.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: b.size, Mode: 0o644, ModTime: epoch}); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	var n int64
	var sum []byte
	if src, ok := rc.(*os.File); ok && t.dst != nil {
		n, sum, err = t.copyFile(src, b.size)
	} else {
		n, sum, err = t.copyStream(ctx, rc, b.size)
	}
	if err != nil {
		return fmt.Errorf("copying blob %s: %w", b.digest, err)
	}
	if n != b.size {
		return fmt.Errorf("blob %s: %d bytes, want %d", b.digest, n, b.size)
	}
	if got := hex.EncodeToString(sum); got != b.digest.Hex {
		return fmt.Errorf("blob %s: content has digest sha256:%s", b.digest, got)
	}
	return t.pad(b.size)
}

// copyFile copies size bytes of src into the destination file in the
// kernel while another goroutine hashes the same bytes with pread.
func (t *tarOut) copyFile(src *os.File, size int64) (int64, []byte, error) {
	if err := t.bw.Flush(); err != nil {
		return 0, nil, err
	}
	type result struct {
		sum []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		h := sha256.New()
		_, err := io.CopyBuffer(h, io.NewSectionReader(src, 0, size), make([]byte, 1<<20))
		done <- result{h.Sum(nil), err}
	}()
	n, err := t.dst.ReadFrom(io.LimitReader(src, size))
	r := <-done
	if err == nil {
		err = r.err
	}
	return n, r.sum, err
}

// copyStream copies through the buffer, handing each chunk to a hashing
// goroutine.
func (t *tarOut) copyStream(ctx context.Context, r io.Reader, size int64) (int64, []byte, error) {
	h := newAsyncHash(sha256.New())
	var n int64
	for n < size {
		if err := ctx.Err(); err != nil {
			h.sum()
			return n, nil, err
		}
		k := int64(len(t.buf))
		if size-n < k {
			k = size - n
		}
		m, err := io.ReadFull(r, t.buf[:k])
		if m > 0 {
			h.Write(t.buf[:m])
			if _, werr := t.bw.Write(t.buf[:m]); werr != nil {
				h.sum()
				return n, nil, werr
			}
			n += int64(m)
		}
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			break
		}
		if err != nil {
			h.sum()
			return n, nil, err
		}
	}
	// A source longer than its descriptor is as wrong as a shorter one.
	if extra, _ := r.Read(t.buf[:1]); extra > 0 {
		h.sum()
		return n + 1, nil, nil
	}
	return n, h.sum(), nil
}

// asyncHash hashes on its own goroutine; Write copies the chunk so the
// caller may reuse its buffer at once.
type asyncHash struct {
	h    hash.Hash
	ch   chan []byte
	free chan []byte
	done chan []byte
}

func newAsyncHash(h hash.Hash) *asyncHash {
	a := &asyncHash{h: h, ch: make(chan []byte, 3), free: make(chan []byte, 4), done: make(chan []byte)}
	for i := 0; i < 4; i++ {
		a.free <- make([]byte, 0, 1<<20)
	}
	go func() {
		for b := range a.ch {
			a.h.Write(b)
			a.free <- b
		}
		a.done <- a.h.Sum(nil)
	}()
	return a
}

func (a *asyncHash) Write(p []byte) {
	for len(p) > 0 {
		b := <-a.free
		k := min(len(p), cap(b))
		a.ch <- append(b[:0], p[:k]...)
		p = p[k:]
	}
}

func (a *asyncHash) sum() []byte {
	close(a.ch)
	return <-a.done
}
