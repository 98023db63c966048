// Package storage is the registry's byte store: a small Driver interface that
// an object store (S3, GCS, Azure Blob) could satisfy, and the filesystem
// implementation the registry uses by default.
//
// The interface deliberately avoids what object stores lack: there is no
// rename, no hard link and no append. Every Put makes an object appear whole
// or not at all; updates of shared metadata use conditional writes
// (If-None-Match / If-Match on an ETag). Listing exists only for garbage
// collection: the registry never lists to find tags or manifests.
//
// Optional interfaces let a driver do better than the minimum: Locker
// (short cross-process critical sections, used to keep garbage collection
// apart from pushes; without it the registry uses a lease object), Mover
// (turning a one-chunk upload into a blob without copying it through the
// registry), Composer (building a blob from upload chunks inside the store),
// Getter (a small object and its ETag in one read), Redirector (presigned
// URLs clients fetch blobs from directly) and Sweeper (removing the
// driver's own leftovers). ErrUnavailable marks a store that did not
// answer. Every driver must pass storagetest.Run; the filesystem driver
// (fs.go) and the S3 driver (package s3) do.
//
// This package must not import other berth packages; it knows nothing of the
// distribution protocol. Its on-disk layout is documented in fs.go.
package storage
