package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// Open implements storage.Driver. The reader fetches lazily from its
// offset, so Seek (http.ServeContent's ranges) costs no request, and every
// GET is conditional on the ETag seen at Open: an object replaced while it
// is read fails the read instead of mixing two versions.
func (d *Driver) Open(ctx context.Context, key string) (storage.Reader, error) {
	info, err := d.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	k, _ := d.key(key)
	return &reader{ctx: ctx, d: d, key: key, k: k, size: info.Size, etag: info.ETag}, nil
}

type reader struct {
	ctx       context.Context
	d         *Driver
	key, k    string
	size, off int64
	etag      string
	body      io.ReadCloser
}

func (r *reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		in := &s3api.GetObjectInput{Bucket: &r.d.o.Bucket, Key: &r.k, IfMatch: aws.String(r.etag)}
		if r.off > 0 {
			in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.off))
		}
		start := time.Now()
		out, err := r.d.c.GetObject(r.ctx, in)
		r.d.obs("Reader", start)
		if err != nil {
			if errors.Is(fail("read", r.key, err), storage.ErrPrecondition) {
				return 0, fmt.Errorf("%w: %s was replaced while it was read", storage.ErrPrecondition, r.key)
			}
			return 0, fail("read", r.key, err)
		}
		r.body = out.Body
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	if err == io.EOF && r.off < r.size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: reading %s: %v", storage.ErrUnavailable, r.key, err)
	}
	return n, err
}

func (r *reader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += r.off
	case io.SeekEnd:
		off += r.size
	}
	if off < 0 {
		return 0, errors.New("s3: seek before the start")
	}
	if off != r.off && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.off = off
	return off, nil
}

func (r *reader) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}

// Get implements storage.Getter: one GET gives the bytes and the ETag of
// exactly those bytes.
func (d *Driver) Get(ctx context.Context, key string, limit int64) ([]byte, storage.Info, error) {
	k, err := d.key(key)
	if err != nil {
		return nil, storage.Info{}, err
	}
	ctx, cancel := d.small(ctx)
	defer cancel()
	defer d.obs("GetContent", time.Now())
	out, err := d.c.GetObject(ctx, &s3api.GetObjectInput{Bucket: &d.o.Bucket, Key: &k})
	if err != nil {
		return nil, storage.Info{}, fail("read", key, err)
	}
	defer out.Body.Close()
	if aws.ToInt64(out.ContentLength) > limit {
		return nil, storage.Info{}, fmt.Errorf("s3: object %s exceeds %d bytes", key, limit)
	}
	data, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, storage.Info{}, fmt.Errorf("%w: reading %s: %v", storage.ErrUnavailable, key, err)
	}
	if int64(len(data)) > limit {
		return nil, storage.Info{}, fmt.Errorf("s3: object %s exceeds %d bytes", key, limit)
	}
	return data, storage.Info{Key: key, Size: int64(len(data)), ModTime: aws.ToTime(out.LastModified), ETag: aws.ToString(out.ETag)}, nil
}

// RedirectURL implements storage.Redirector with a presigned GET.
func (d *Driver) RedirectURL(ctx context.Context, key, method string) (string, error) {
	if method != http.MethodGet {
		return "", nil
	}
	k, err := d.key(key)
	if err != nil {
		return "", err
	}
	out, err := d.presign.PresignGetObject(ctx, &s3api.GetObjectInput{Bucket: &d.o.Bucket, Key: &k}, s3api.WithPresignExpires(d.o.PresignTTL))
	if err != nil {
		return "", fmt.Errorf("s3: presigning %s: %w", key, err)
	}
	return out.URL, nil
}
