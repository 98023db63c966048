// Package layerdiff turns what a RUN step changed into an uncompressed OCI
// layer tar (image-spec layer.md: ".wh.<name>" whiteouts, "<dir>/.wh..wh..opq"
// opaque markers, hard links as link entries).
//
// Two sources of change are supported and produce the same tar: an overlayfs
// upper directory (Overlay: whiteouts are 0/0 character devices, opaque
// directories carry the trusted.overlay.opaque or user.overlay.opaque xattr),
// and a before/after comparison of a plain directory (Scan then Compare), the
// fallback where overlayfs cannot be mounted. Entries come out in lexical path
// order with parents first, so equal trees give equal bytes.
//
// It imports only the standard library and x/sys.
package layerdiff
