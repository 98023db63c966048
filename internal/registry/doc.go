// Package registry is berth's OCI Distribution server (distribution-spec 1.1):
// the /v2/ routes and handlers, blob uploads, manifests and tags, the referrers
// API, garbage collection, metrics and access logs. It is an http.Handler,
// tested through httptest and against the OCI conformance suite.
//
// Layers, top to bottom: server.go (request ids, access log, metrics, auth)
// and routes.go; the handlers (blobs.go, uploads.go, manifests.go, tags.go)
// parse and check requests, and errors become OCI codes in one place
// (errors.go); meta.go keeps the content model (blobs deduplicated across
// repositories, per-repository links, one metadata object per repository
// holding tags and manifests, updated by conditional writes and cached by
// ETag) on top of a storage.Driver, a directory or an S3 bucket shared by
// replicas; gc.go collects what nothing references, excluded from pushes
// by the driver's lock or, on an object store, by the lease in lease.go;
// events.go emits registry:2's notification events. The layout is
// documented once, in layout.go. Configuration (config), serving (serve),
// webhooks (notify) and the drivers (storage, storage/s3) are subpackages.
//
// It must not import internal/store, internal/cli or any HTTP client code;
// authentication comes in as an Authenticator interface (internal/auth
// satisfies it).
package registry
