// Package pkgcache is berth's one list of what package managers and
// toolchains leave in an image: the cache directories they fill, the words
// in a RUN that keep those directories empty, and the files and packages
// that mark a build toolchain. `berth dive`'s hints (internal/analyze, which
// sees the bytes in the layers) and `berth lint` (internal/lint, which sees
// the Dockerfile) both read it, so the two name the same path, the same fix
// and the same lint rule for a cache left in a layer.
//
// It is a leaf: standard library only, no I/O.
package pkgcache
