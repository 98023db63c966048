// Package snapshot unpacks image layers into directories that overlayfs can use
// as lower layers: once per layer digest (DiffID), shared by every build.
//
// On-disk layout under the root passed to New (e.g. ROOT/snapshots):
//
//	sha256/<hex>/      one unpacked layer; never modified once renamed in place
//	tmp-<random>/      an unpack in progress (removed on failure, swept by New)
//	sha256/<hex>.lock  flock serialising concurrent unpacks of one digest
//
// OCI whiteouts (".wh.<name>") become overlay whiteouts (0/0 character
// devices) and opaque markers (".wh..wh..opq") become the overlay.opaque
// xattr (trusted.* when root, user.* always, for rootless userxattr mounts).
// Extraction is safe against hostile tars: no absolute or ".." paths, no
// writes through symlinks (every parent is opened with openat2
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), hard links only to entries inside.
//
// It imports only the standard library, x/sys, berth's fsutil leaf and
// go-containerregistry's v1 types; it implements the layer half of the OCI
// image spec (layer.md).
package snapshot
