// Package store owns the bytes of images on local disk: content-addressed
// blobs shared by every image, the reference index (name:tag and
// name@digest → manifest or index), and the garbage collection of blobs that
// no reference needs. The CLI's commands and the builder all go through it.
//
// The local image commands are functions here that both front ends (the CLI
// and the Docker Engine API) call and render as they need: List (`images`,
// with Docker's filters), Inspect/Describe, History, TagImage, RemoveImages
// (`rmi`), Prune (`image prune`) and DiskUsage (the images of `system df`).
// They return plain data; names come out familiar (busybox:latest), as both
// renderers show them.
//
// The root is a plain OCI image layout, so standard tools can read it:
//
//	ROOT/
//	  oci-layout              {"imageLayoutVersion":"1.0.0"}
//	  index.json              the reference index: one descriptor per name (or
//	                          one without a name for a dangling image), with
//	                          berth's annotations (image ID, created, size)
//	  blobs/sha256/<hex>      immutable blobs, verified before they are kept
//	  meta/sha256/<hex>       small facts about layer blobs: uncompressed size,
//	                          and digest once verified (see layers.go)
//	  tmp/<lease>-*           blobs being written, named after their writer
//	  leases/<id>             digests a live writer has stored but not yet
//	                          referenced (flock held while the writer lives)
//	  index.lock, gc.lock     advisory locks
//
// Concurrency: every file is written by temp file → fsync → rename; index
// updates rewrite the whole file under index.lock. A writer records each blob
// in its lease, under a shared gc.lock, before it relies on the blob; GC holds
// gc.lock exclusively and keeps every blob named by a live lease, so two berth
// processes never delete what the other needs. A writer locks its lease
// before it creates a temp file, and GC keeps a temp file whose lease is
// locked when it looks at the file (not only when it listed the leases), so
// a process that starts writing during a collection keeps its temp file. A kill -9 leaves only temp
// files and a dead lease, which the next GC removes.
//
// It builds on ref and fsutil and on go-containerregistry's v1 types; it must
// not import cli, remote, archive or build.
package store
