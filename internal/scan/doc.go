// Package scan owns berth's software inventory and vulnerability matching.
//
// Inventory: the files osv-scalibr's extractors need (dpkg status and
// distroless status.d, apk installed, rpm databases, Go binaries, npm
// package.json, Python dist-info/egg, Java archives, Ruby gemspecs, Cargo.lock)
// are read out of each
// image layer's tar stream into memory (or a private temporary file when
// large) — nothing from the image is ever written to a path the image
// chose — and handed to the extractors through a small read-only
// filesystem. Each layer's result is cached by its chain ID, so a second scan
// of unchanged layers reads no layer at all. Packages are attributed to the
// lowest layer from which they have been continuously present, with that
// layer's created_by.
//
// Matching: osv-scalibr's OSV matcher and version orderings decide whether a
// record affects a package; records come from a VulnSource (internal/scan/vulndb).
// Findings are deduplicated across aliases (GO-/GHSA-/CVE-/DSA-…).
//
// It must not import internal/cli or internal/store: images arrive as
// go-containerregistry v1.Image values or directories.
package scan
