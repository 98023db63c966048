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
// Two optional interfaces let a driver do better than the minimum: Locker
// (short cross-process critical sections, used to keep garbage collection
// apart from pushes) and Mover (turning a one-chunk upload into a blob
// without copying it; an object store would do a server-side copy). Every
// driver must pass the suite in suite_test.go.
//
// This package must not import other berth packages; it knows nothing of the
// distribution protocol. Its on-disk layout is documented in fs.go.
package storage
