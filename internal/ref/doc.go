// Package ref owns image names as Docker spells them: parsing with Docker's
// defaults (docker.io, library/, :latest), the "familiar" short form shown to
// users, and the full form stored in the index.
//
// It is a leaf over go-containerregistry's name package.
package ref
