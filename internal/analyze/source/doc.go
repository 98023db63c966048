// Package source opens the image berth dive analyzes, from wherever it is:
// a Docker archive (`docker save`), an OCI archive, an OCI image layout
// directory, a registry (streamed layer by layer, never imported) or berth's
// local store. Every source yields a go-containerregistry v1.Image whose
// layers are read lazily, so the analysis reads each layer once.
//
// It implements the OCI image layout spec (index.json, blobs/<alg>/<hex>)
// for layouts and archives, and verifies each JSON blob it reads against its
// digest. It must not import internal/cli.
package source
