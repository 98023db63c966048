package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// MinPartSize is S3's smallest non-final multipart part.
const MinPartSize = 5 << 20

// maxParts is the most parts a multipart upload may have.
const maxParts = 10000

// maxCopySize is the largest object one CopyObject or UploadPartCopy moves.
const maxCopySize = 5 << 30

// Options configure the driver; they mirror distribution's storage.s3
// parameters. The zero value of each field but Bucket is a default.
type Options struct {
	Bucket   string
	Region   string // default $AWS_REGION, else us-east-1
	Endpoint string // an S3-compatible store's URL; "" is AWS
	// PathStyle addresses the bucket in the path (most S3-compatible stores
	// need it), not in the host name.
	PathStyle bool
	// Root is the key prefix of everything the driver stores.
	Root string
	// AccessKey and SecretKey, when set, are used instead of the AWS SDK's
	// chain (environment, shared files, instance roles).
	AccessKey, SecretKey, SessionToken string
	// PartSize is the multipart part size (default 10 MiB, at least 5 MiB);
	// Put streams into parts of this size, PartConcurrency at a time.
	PartSize        int64
	PartConcurrency int
	// CopyPartSize and CopyConcurrency shape server-side copies of large
	// objects (UploadPartCopy); objects up to CopyThreshold are copied with
	// one CopyObject.
	CopyPartSize, CopyThreshold int64
	CopyConcurrency             int
	SkipVerify                  bool
	Encrypt                     bool   // server-side encryption (SSE-S3, or SSE-KMS with KeyID)
	KeyID                       string // KMS key for Encrypt
	StorageClass                string // "" or NONE: the bucket's default
	ACL                         string // canned ACL, default private
	UserAgent                   string
	DualStack, Accelerate, FIPS bool
	// RequestTimeout bounds each small request (metadata reads and writes)
	// so that an unreachable or hung store fails the request fast with
	// storage.ErrUnavailable instead of holding it (default 10s).
	RequestTimeout time.Duration
	// PresignTTL is how long redirect URLs stay valid (default 20 minutes).
	PresignTTL time.Duration
	Logger     *slog.Logger
	// Observe, when set, is told of every request to the store (action as
	// registry:2's registry_storage_action_seconds names them: Stat,
	// GetContent, Reader, PutContent, Writer, Delete, List, Move).
	Observe func(action string, d time.Duration)
}

// Driver stores objects in one bucket of S3 or an S3-compatible store.
// Every write is atomic (PutObject, or a multipart upload that is completed
// only after every part is in), conditional writes use S3's If-Match and
// If-None-Match, and copies and compositions happen inside the store.
type Driver struct {
	c       *s3api.Client
	presign *s3api.PresignClient
	o       Options
	root    string // "" or "prefix/"
	bufs    sync.Pool

	// Whether the store has RenameObject, once probed (canRename).
	renameMu             sync.Mutex
	renameKnown, renames bool
}

// New returns a driver for o.Bucket. It does not contact the store: a
// replica starts while the store is down and serves once it is back.
func New(ctx context.Context, o Options) (*Driver, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	if o.PartSize == 0 {
		o.PartSize = 10 << 20
	}
	if o.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is below S3's 5 MiB minimum", o.PartSize)
	}
	if o.PartConcurrency <= 0 {
		o.PartConcurrency = 4
	}
	if o.CopyPartSize == 0 {
		o.CopyPartSize = 32 << 20
	}
	if o.CopyThreshold == 0 {
		o.CopyThreshold = 32 << 20
	}
	if o.CopyConcurrency <= 0 {
		o.CopyConcurrency = 8
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.PresignTTL <= 0 {
		o.PresignTTL = 20 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	hc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 3 * time.Second }).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 64
			t.ResponseHeaderTimeout = 30 * time.Second
			if o.SkipVerify {
				t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // storage.s3.skipverify asks for it
			}
		})
	loads := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		// A down store must fail fast: three attempts, short backoff.
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 3
				so.MaxBackoff = 500 * time.Millisecond
			})
		}),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if o.Region != "" {
		loads = append(loads, config.WithRegion(o.Region))
	}
	if o.AccessKey != "" {
		loads = append(loads, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, o.SessionToken)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	c := s3api.NewFromConfig(cfg, func(so *s3api.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		so.UseAccelerate = o.Accelerate
		if o.DualStack {
			so.EndpointOptions.UseDualStackEndpoint = aws.DualStackEndpointStateEnabled
		}
		if o.FIPS {
			so.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
		}
		if o.UserAgent != "" {
			so.AppID = o.UserAgent
		}
		// Payloads are verified by the registry (digests) and, on a TLS
		// endpoint, by TLS: hashing every part again to sign it would
		// double the CPU spent per byte.
		so.APIOptions = append(so.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	})
	root := strings.Trim(o.Root, "/")
	if root != "" {
		root += "/"
	}
	d := &Driver{c: c, presign: s3api.NewPresignClient(c), o: o, root: root}
	d.bufs.New = func() any { b := make([]byte, o.PartSize); return &b }
	return d, nil
}

// obs reports one request of kind action that began at start.
func (d *Driver) obs(action string, start time.Time) {
	if d.o.Observe != nil {
		d.o.Observe(action, time.Since(start))
	}
}

func (d *Driver) key(k string) (string, error) {
	if !storage.ValidKey(k) {
		return "", fmt.Errorf("%w: %q", storage.ErrInvalidKey, k)
	}
	return d.root + k, nil
}

// small bounds a metadata-sized request.
func (d *Driver) small(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.o.RequestTimeout)
}

// fail maps the SDK's errors onto the storage contract's.
func fail(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var nf *types.NotFound
	var nk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nk) {
		return storage.ErrNotFound
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return storage.ErrPrecondition
		case "NoSuchKey", "NotFound":
			return storage.ErrNotFound
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout":
			return fmt.Errorf("%w: %s %s: %v", storage.ErrUnavailable, op, key, err)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code == 0: // no response: refused, reset, timed out
			return fmt.Errorf("%w: %s %s: %v", storage.ErrUnavailable, op, key, err)
		case code == http.StatusNotFound:
			return storage.ErrNotFound
		case code == http.StatusPreconditionFailed || code == http.StatusConflict:
			return storage.ErrPrecondition
		case code >= 500 || code == http.StatusTooManyRequests:
			return fmt.Errorf("%w: %s %s: %v", storage.ErrUnavailable, op, key, err)
		}
		return fmt.Errorf("s3: %s %s: %w", op, key, err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	// No answer at all: refused, reset, timed out.
	return fmt.Errorf("%w: %s %s: %v", storage.ErrUnavailable, op, key, err)
}

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Info, error) {
	k, err := d.key(key)
	if err != nil {
		return storage.Info{}, err
	}
	ctx, cancel := d.small(ctx)
	defer cancel()
	defer d.obs("Stat", time.Now())
	out, err := d.c.HeadObject(ctx, &s3api.HeadObjectInput{Bucket: &d.o.Bucket, Key: &k})
	if err != nil {
		return storage.Info{}, fail("stat", key, err)
	}
	return storage.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified), ETag: aws.ToString(out.ETag)}, nil
}

// Delete implements storage.Driver. S3 deletes a missing key without
// complaint; the contract wants ErrNotFound, so the key is looked up first.
func (d *Driver) Delete(ctx context.Context, key string) error {
	k, err := d.key(key)
	if err != nil {
		return err
	}
	if _, err := d.Stat(ctx, key); err != nil {
		return err
	}
	ctx, cancel := d.small(ctx)
	defer cancel()
	defer d.obs("Delete", time.Now())
	_, err = d.c.DeleteObject(ctx, &s3api.DeleteObjectInput{Bucket: &d.o.Bucket, Key: &k})
	return fail("delete", key, err)
}

// List implements storage.Driver; only garbage collection lists.
func (d *Driver) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	p := d.root + prefix
	pg := s3api.NewListObjectsV2Paginator(d.c, &s3api.ListObjectsV2Input{Bucket: &d.o.Bucket, Prefix: &p})
	for pg.HasMorePages() {
		start := time.Now()
		out, err := pg.NextPage(ctx)
		d.obs("List", start)
		if err != nil {
			return fail("list", prefix, err)
		}
		for _, o := range out.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), d.root)
			if !storage.ValidKey(key) {
				continue // not the registry's (a lease, an operator's file)
			}
			if err := fn(storage.Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified), ETag: aws.ToString(o.ETag)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Put implements storage.Driver. Up to one part it is one PutObject;
// beyond, a multipart upload whose parts go up PartConcurrency at a time
// and which is completed, with the condition, only after all are in. A
// read error aborts the upload: nothing becomes visible.
func (d *Driver) Put(ctx context.Context, key string, r io.Reader, c storage.Cond) (storage.Info, error) {
	k, err := d.key(key)
	if err != nil {
		return storage.Info{}, err
	}
	bp := d.bufs.Get().(*[]byte)
	first := *bp
	n, rerr := io.ReadFull(r, first)
	if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
		defer d.bufs.Put(bp)
		return d.putSmall(ctx, key, k, first[:n], c)
	}
	if rerr != nil {
		d.bufs.Put(bp)
		return storage.Info{}, rerr
	}
	return d.putMultipart(ctx, key, k, bp, r, c)
}

func (d *Driver) putInput(k string) *s3api.PutObjectInput {
	in := &s3api.PutObjectInput{Bucket: &d.o.Bucket, Key: &k}
	if d.o.ACL != "" {
		in.ACL = types.ObjectCannedACL(d.o.ACL)
	}
	if sc := d.o.StorageClass; sc != "" && sc != "NONE" {
		in.StorageClass = types.StorageClass(sc)
	}
	if d.o.Encrypt {
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
		if d.o.KeyID != "" {
			in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
			in.SSEKMSKeyId = aws.String(d.o.KeyID)
		}
	}
	return in
}

func condHeaders(c storage.Cond) (ifMatch, ifNoneMatch *string) {
	if c.IfNoneMatch {
		ifNoneMatch = aws.String("*")
	}
	if c.IfMatch != "" {
		ifMatch = aws.String(c.IfMatch)
	}
	return
}

func (d *Driver) putSmall(ctx context.Context, key, k string, b []byte, c storage.Cond) (storage.Info, error) {
	in := d.putInput(k)
	in.Body = bytes.NewReader(b)
	in.ContentLength = aws.Int64(int64(len(b)))
	in.IfMatch, in.IfNoneMatch = condHeaders(c)
	ctx, cancel := d.small(ctx)
	defer cancel()
	defer d.obs("PutContent", time.Now())
	out, err := d.c.PutObject(ctx, in)
	if err != nil {
		return storage.Info{}, fail("put", key, err)
	}
	return storage.Info{Key: key, Size: int64(len(b)), ModTime: time.Now(), ETag: aws.ToString(out.ETag)}, nil
}

// multipart is one multipart upload in progress.
type multipart struct {
	d     *Driver
	key   string // the contract's key, for errors
	k     string // the bucket's key
	id    *string
	mu    sync.Mutex
	parts []types.CompletedPart
}

func (d *Driver) startMultipart(ctx context.Context, key, k string) (*multipart, error) {
	pi := d.putInput(k)
	in := &s3api.CreateMultipartUploadInput{Bucket: &d.o.Bucket, Key: &k, ACL: pi.ACL, StorageClass: pi.StorageClass,
		ServerSideEncryption: pi.ServerSideEncryption, SSEKMSKeyId: pi.SSEKMSKeyId}
	sctx, cancel := d.small(ctx)
	defer cancel()
	out, err := d.c.CreateMultipartUpload(sctx, in)
	if err != nil {
		return nil, fail("put", key, err)
	}
	return &multipart{d: d, key: key, k: k, id: out.UploadId}, nil
}

func (m *multipart) add(num int32, etag *string) {
	m.mu.Lock()
	m.parts = append(m.parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: etag})
	m.mu.Unlock()
}

func (m *multipart) upload(ctx context.Context, num int32, b []byte) error {
	defer m.d.obs("Writer", time.Now())
	out, err := m.d.c.UploadPart(ctx, &s3api.UploadPartInput{Bucket: &m.d.o.Bucket, Key: &m.k, UploadId: m.id,
		PartNumber: aws.Int32(num), Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b)))})
	if err != nil {
		return fail("put", m.key, err)
	}
	m.add(num, out.ETag)
	return nil
}

// copyPart makes part num of bytes [from, to] of the bucket's object src.
func (m *multipart) copyPart(ctx context.Context, num int32, src string, from, to int64) error {
	defer m.d.obs("Move", time.Now())
	cs := m.d.o.Bucket + "/" + src
	out, err := m.d.c.UploadPartCopy(ctx, &s3api.UploadPartCopyInput{Bucket: &m.d.o.Bucket, Key: &m.k, UploadId: m.id,
		PartNumber: aws.Int32(num), CopySource: aws.String(cs), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", from, to))})
	if err != nil {
		return fail("copy", m.key, err)
	}
	m.add(num, out.CopyPartResult.ETag)
	return nil
}

func (m *multipart) complete(ctx context.Context, c storage.Cond) (string, error) {
	m.mu.Lock()
	parts := append([]types.CompletedPart(nil), m.parts...)
	m.mu.Unlock()
	// Parts finish in any order; S3 wants them ascending.
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && *parts[j].PartNumber < *parts[j-1].PartNumber; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
	in := &s3api.CompleteMultipartUploadInput{Bucket: &m.d.o.Bucket, Key: &m.k, UploadId: m.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
	in.IfMatch, in.IfNoneMatch = condHeaders(c)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // the store assembles the parts
	defer cancel()
	out, err := m.d.c.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return "", fail("put", m.key, err)
	}
	return aws.ToString(out.ETag), nil
}

// abort discards the upload's parts, also when ctx is already cancelled.
func (m *multipart) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.d.c.AbortMultipartUpload(ctx, &s3api.AbortMultipartUploadInput{Bucket: &m.d.o.Bucket, Key: &m.k, UploadId: m.id}); err != nil {
		// The bucket's lifecycle rule for incomplete uploads, or the next
		// GC, removes what is left.
		m.d.o.Logger.Warn("aborting multipart upload", "key", m.key, "err", err)
	}
}

func (d *Driver) putMultipart(ctx context.Context, key, k string, firstBuf *[]byte, r io.Reader, c storage.Cond) (storage.Info, error) {
	m, err := d.startMultipart(ctx, key, k)
	if err != nil {
		d.bufs.Put(firstBuf)
		return storage.Info{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.o.PartConcurrency)
	var size int64
	num := int32(0)
	next := firstBuf
	var readErr error
	for {
		num++
		if num > maxParts {
			d.bufs.Put(next)
			readErr = fmt.Errorf("s3: %s is larger than S3's 10,000 parts of %d bytes: raise the part size (storage.s3.chunksize)", key, d.o.PartSize)
			break
		}
		buf := next
		n := len(*buf)
		if num > 1 {
			var rerr error
			n, rerr = io.ReadFull(r, *buf)
			if rerr == io.EOF {
				d.bufs.Put(buf)
				break
			}
			if rerr != nil && rerr != io.ErrUnexpectedEOF {
				d.bufs.Put(buf)
				readErr = rerr
				break
			}
		}
		size += int64(n)
		part, pn := (*buf)[:n], num
		g.Go(func() error {
			defer d.bufs.Put(buf)
			return m.upload(gctx, pn, part)
		})
		if n < len(*buf) || gctx.Err() != nil {
			break
		}
		next = d.bufs.Get().(*[]byte)
	}
	if err := g.Wait(); err != nil || readErr != nil {
		m.abort()
		if readErr != nil {
			return storage.Info{}, readErr
		}
		return storage.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		m.abort()
		return storage.Info{}, err
	}
	etag, err := m.complete(ctx, c)
	if err != nil {
		m.abort()
		return storage.Info{}, err
	}
	return storage.Info{Key: key, Size: size, ModTime: time.Now(), ETag: etag}, nil
}
