// Package dockerfile is berth's Dockerfile and .dockerignore front end: it
// turns the bytes of a Dockerfile into BuildKit's typed instructions (parser,
// directives, heredocs, word expansion) and the bytes of a .dockerignore into
// a matcher with Docker's pattern rules.
//
// It is pure: it reads only what it is given and does no other I/O, so it can
// be fuzzed and golden-tested. It must not import any other berth package.
//
// Specs: the Dockerfile reference (https://docs.docker.com/reference/dockerfile/)
// as implemented by github.com/moby/buildkit/frontend/dockerfile, and the
// .dockerignore rules of github.com/moby/patternmatcher.
package dockerfile
