// Package fsutil owns durable, concurrency-safe file operations: atomic writes
// (temp file in the destination directory, fsync, rename, fsync of the
// directory), O_DIRECT appends for large downloads that are fsynced before
// they are kept (DirectWriter), advisory file locks, path joins that refuse to escape a root,
// removal of trees holding unreadable directories, and the rules for tar
// entries: CheckTarPath and CleanTarName for names, LayerChecker for the
// entries of a layer or root filesystem (the unpacker's rules, which import
// and build check too).
//
// It is a leaf: it imports only the standard library, golang.org/x/sys and
// internal/untrusted (bounded echoes of names in errors).
package fsutil
