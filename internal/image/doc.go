// Package image owns berth's image model beyond go-containerregistry's types:
// building configs and manifests for images berth makes itself, and applying
// Dockerfile-style changes (import --change) to a config. No other package
// defines manifest structs.
//
// It builds on the leaves (ref, fsutil) and the field libraries
// (go-containerregistry, BuildKit's Dockerfile parser).
package image
