package s3

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// Move implements storage.Mover: a copy inside the store (CopyObject, or
// UploadPartCopy for objects larger than CopyThreshold and up to S3's 5 TiB),
// then the source is deleted. dst appears whole or not at all.
func (d *Driver) Move(ctx context.Context, src, dst string) error {
	info, err := d.Stat(ctx, src)
	if err != nil {
		return err
	}
	if _, err := d.Compose(ctx, dst, []storage.Info{info}); err != nil {
		return err
	}
	if err := d.Delete(ctx, src); err != nil && err != storage.ErrNotFound {
		return err
	}
	return nil
}

// Compose implements storage.Composer: dst becomes the concatenation of
// srcs, built in the store with a multipart upload whose parts are
// UploadPartCopy ranges of the sources. S3 refuses non-final parts under
// 5 MiB, so runs of small sources (client chunks below 5 MiB) are read and
// sent as one part; only those bytes pass through the registry.
func (d *Driver) Compose(ctx context.Context, dst string, srcs []storage.Info) (storage.Info, error) {
	k, err := d.key(dst)
	if err != nil {
		return storage.Info{}, err
	}
	var total int64
	for _, s := range srcs {
		if _, err := d.key(s.Key); err != nil {
			return storage.Info{}, err
		}
		total += s.Size
	}
	if len(srcs) == 1 && total <= d.o.CopyThreshold {
		return d.copyObject(ctx, dst, k, srcs[0])
	}
	if total < MinPartSize {
		// Too small for a multipart upload of copies: read it all.
		return d.Put(ctx, dst, &concat{ctx: ctx, d: d, srcs: srcs}, storage.Cond{})
	}
	m, err := d.startMultipart(ctx, dst, k)
	if err != nil {
		return storage.Info{}, err
	}
	// S3 takes at most 10,000 parts.
	copyPart := max(d.o.CopyPartSize, (total+8999)/9000)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.o.CopyConcurrency)
	num := int32(0)
	var pending []byte // bytes of small sources not yet sent
	flush := func() {
		if len(pending) == 0 {
			return
		}
		num++
		n, part := num, pending
		pending = nil
		g.Go(func() error { return m.upload(gctx, n, part) })
	}
	for i, s := range srcs {
		sk, _ := d.key(s.Key)
		from := int64(0)
		last := i == len(srcs)-1
		if len(pending) > 0 || (s.Size < MinPartSize && !last) {
			// Fill the pending part up to the minimum from this source.
			want := min(s.Size, max(0, MinPartSize-int64(len(pending))))
			if s.Size-want < MinPartSize && !last {
				want = s.Size // the rest would be too small to copy
			}
			b, err := d.readRange(ctx, s.Key, sk, 0, want)
			if err != nil {
				m.abort()
				return storage.Info{}, err
			}
			pending = append(pending, b...)
			from = want
			if int64(len(pending)) >= MinPartSize || (last && from == s.Size) {
				flush()
			}
		}
		for from < s.Size {
			to := min(from+copyPart, s.Size)
			if s.Size-to < MinPartSize {
				to = s.Size // never leave a too-small tail
			}
			if to-from > maxCopySize {
				to = from + maxCopySize
				if s.Size-to < MinPartSize {
					to -= MinPartSize // leave the next part big enough
				}
			}
			num++
			n, f, t := num, from, to-1
			g.Go(func() error { return m.copyPart(gctx, n, sk, f, t) })
			from = to
		}
	}
	flush()
	if err := g.Wait(); err != nil {
		m.abort()
		return storage.Info{}, err
	}
	etag, err := m.complete(ctx, storage.Cond{})
	if err != nil {
		m.abort()
		return storage.Info{}, err
	}
	return storage.Info{Key: dst, Size: total, ETag: etag}, nil
}

func (d *Driver) copyObject(ctx context.Context, dst, k string, src storage.Info) (storage.Info, error) {
	sk, _ := d.key(src.Key)
	pi := d.putInput(k)
	in := &s3api.CopyObjectInput{Bucket: &d.o.Bucket, Key: &k, CopySource: aws.String(d.o.Bucket + "/" + sk),
		ACL: pi.ACL, StorageClass: pi.StorageClass, ServerSideEncryption: pi.ServerSideEncryption, SSEKMSKeyId: pi.SSEKMSKeyId}
	defer d.obs("Move", time.Now())
	out, err := d.c.CopyObject(ctx, in)
	if err != nil {
		return storage.Info{}, fail("copy", src.Key, err)
	}
	etag := ""
	if out.CopyObjectResult != nil {
		etag = aws.ToString(out.CopyObjectResult.ETag)
	}
	return storage.Info{Key: dst, Size: src.Size, ETag: etag}, nil
}

// readRange reads n bytes of the object from off.
func (d *Driver) readRange(ctx context.Context, key, k string, off, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	out, err := d.c.GetObject(ctx, &s3api.GetObjectInput{Bucket: &d.o.Bucket, Key: &k, Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))})
	if err != nil {
		return nil, fail("read", key, err)
	}
	defer out.Body.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(out.Body, b); err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", storage.ErrUnavailable, key, err)
	}
	return b, nil
}

// concat reads sources one after another (for compositions too small for
// a multipart upload).
type concat struct {
	ctx  context.Context
	d    *Driver
	srcs []storage.Info
	cur  io.ReadCloser
}

func (c *concat) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.srcs) == 0 {
				return 0, io.EOF
			}
			rd, err := c.d.Open(c.ctx, c.srcs[0].Key)
			if err != nil {
				return 0, err
			}
			c.cur, c.srcs = rd, c.srcs[1:]
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}
