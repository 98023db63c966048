// Package s3 is the registry's storage driver for Amazon S3 and
// S3-compatible object stores (SeaweedFS, MinIO, Ceph RGW, GCS's XML API),
// over github.com/aws/aws-sdk-go-v2.
//
// It satisfies the storage contract with what S3 has: objects appear whole
// (PutObject, or a multipart upload completed only once every part is in),
// conditional writes are S3's If-Match / If-None-Match on PutObject and
// CompleteMultipartUpload, Move and Compose copy inside the store
// (CopyObject, UploadPartCopy ranges), Redirector hands out presigned GET
// URLs. It has no Locker: replicas share nothing but the bucket, and what
// needs mutual exclusion (online GC) uses a lease object written with
// conditional writes.
//
// Every key lives under Options.Root. Errors map onto storage's sentinels:
// 404 is ErrNotFound, 412/409 on a conditional write is ErrPrecondition,
// and no answer, a timeout or a 5xx is ErrUnavailable, which the registry
// answers with 503.
//
// It must not import other berth packages than registry/storage.
package s3
