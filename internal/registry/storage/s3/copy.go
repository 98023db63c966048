package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// Move implements storage.Mover. On a store that has S3's RenameObject
// (SeaweedFS; on AWS, directory buckets) the object takes its new name in
// the store's metadata and its bytes are not written again, which is what
// keeps a pushed layer from being stored twice: once as the upload's chunk
// and once as the blob. Elsewhere the object is copied inside the store
// (CopyObject, or UploadPartCopy for objects larger than CopyThreshold and
// up to S3's 5 TiB) and the source deleted. dst appears whole or not at all.
func (d *Driver) Move(ctx context.Context, src, dst string) error {
	info, err := d.Stat(ctx, src)
	if err != nil {
		return err
	}
	if d.canRename(ctx) {
		return d.rename(ctx, src, dst)
	}
	if _, err := d.Compose(ctx, dst, []storage.Info{info}); err != nil {
		return err
	}
	if err := d.Delete(ctx, src); err != nil && err != storage.ErrNotFound {
		return err
	}
	return nil
}

// rename is RenameObject of src to dst (both the contract's keys).
func (d *Driver) rename(ctx context.Context, src, dst string) error {
	sk, err := d.key(src)
	if err != nil {
		return err
	}
	dk, err := d.key(dst)
	if err != nil {
		return err
	}
	ctx, cancel := d.small(ctx)
	defer cancel()
	defer d.obs("Move", time.Now())
	// The client token makes the SDK's retry of a rename whose answer was
	// lost succeed instead of finding its source gone. Keys are made of
	// [A-Za-z0-9._/-] only (storage.ValidKey): the source needs no URL
	// encoding.
	var tok [16]byte
	rand.Read(tok[:])
	_, err = d.c.RenameObject(ctx, &s3api.RenameObjectInput{Bucket: &d.o.Bucket, Key: &dk, RenameSource: aws.String(sk),
		ClientToken: aws.String(hex.EncodeToString(tok[:]))})
	if refused(err) {
		return fmt.Errorf("%w: %v", errNoRename, err)
	}
	return fail("rename", src, err)
}

// errNoRename: the store answered that it has no RenameObject.
var errNoRename = errors.New("s3: the store does not rename objects")

// refused reports an answer that means "no such operation here" (S3's
// NotImplemented, or the 400/405/501 that stores without RenameObject give),
// as opposed to a failure of this rename.
func refused(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotImplemented", "MethodNotAllowed", "InvalidRequest", "InvalidArgument", "UnsupportedOperation", "XNotImplemented":
			return true
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotImplemented, http.StatusMethodNotAllowed, http.StatusBadRequest:
			return true
		}
	}
	return false
}

// canRename reports whether the store renames objects, finding out once
// per driver on keys of its own. Asking is not enough: a store that does
// not know RenameObject may read its PUT as a PutObject with an empty body
// and answer 200, so the probe checks that the object arrived whole under
// its new name and left its old one — on probe keys, never on a blob's.
// Until a probe succeeds or proves the store cannot rename, Move copies.
func (d *Driver) canRename(ctx context.Context) bool {
	d.renameMu.Lock()
	defer d.renameMu.Unlock()
	if d.renameKnown {
		return d.renames
	}
	ok, err := d.probeRename(ctx)
	if err != nil {
		// The store did not answer: ask again next time.
		d.o.Logger.Debug("s3: probing RenameObject", "err", err)
		return false
	}
	d.renameKnown, d.renames = true, ok
	d.o.Logger.Debug("s3: RenameObject", "supported", ok)
	return ok
}

func (d *Driver) probeRename(ctx context.Context) (bool, error) {
	var b [8]byte
	rand.Read(b[:])
	dir := "uploads/rename-probe-" + hex.EncodeToString(b[:])
	src, dst := dir+"/a", dir+"/b"
	if _, err := d.Put(ctx, src, strings.NewReader("probe"), storage.Cond{}); err != nil {
		return false, err
	}
	defer func() {
		// Whatever the store did, nothing of the probe stays.
		for _, k := range []string{src, dst} {
			if err := d.Delete(context.WithoutCancel(ctx), k); err != nil && !errors.Is(err, storage.ErrNotFound) {
				d.o.Logger.Warn("s3: removing a rename probe", "key", k, "err", err)
			}
		}
	}()
	if err := d.rename(ctx, src, dst); errors.Is(err, errNoRename) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	got, err := d.Stat(ctx, dst)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, err
	}
	if err != nil || got.Size != int64(len("probe")) {
		return false, nil
	}
	if _, err := d.Stat(ctx, src); !errors.Is(err, storage.ErrNotFound) {
		return false, err // still there: the store copied or ignored it
	}
	return true, nil
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
		for _, rg := range copyRanges(from, s.Size, copyPart) {
			num++
			n, f, t := num, rg[0], rg[1]
			g.Go(func() error { return m.copyPart(gctx, n, sk, f, t) })
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

// copyRanges splits bytes [from, size) of one source into the ranges of
// UploadPartCopy requests (inclusive ends) S3 accepts: about part bytes
// each, none over 5 GiB, none under 5 MiB but a source's last when the
// whole rest is smaller (the caller reads such sources instead).
func copyRanges(from, size, part int64) [][2]int64 {
	var out [][2]int64
	for from < size {
		to := min(from+part, size)
		if size-to < MinPartSize {
			to = size // never leave a too-small tail
		}
		if to-from > maxCopySize {
			to = from + maxCopySize
			if size-to < MinPartSize {
				to -= MinPartSize // leave the next part big enough
			}
		}
		out = append(out, [2]int64{from, to - 1})
		from = to
	}
	return out
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
