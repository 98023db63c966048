// Package fsutil owns durable, concurrency-safe file operations: atomic writes
// (temp file in the destination directory, fsync, rename, fsync of the
// directory), advisory file locks, path joins that refuse to escape a root,
// and removal of trees holding unreadable directories.
//
// It is a leaf: it imports only the standard library and golang.org/x/sys.
package fsutil
