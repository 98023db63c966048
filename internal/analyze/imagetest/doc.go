// Package imagetest builds images with known contents for the analyze tests,
// the CLI end-to-end tests and the dive benchmark: layer tars generated in
// code, written as a Docker archive (the `docker save` format), from which
// tests derive OCI layouts, OCI archives and registry pushes through
// go-containerregistry or skopeo. Layers are streamed through temporary
// files so that a benchmark image of a gigabyte never sits in memory.
//
// It imports no other berth package.
package imagetest
