// Package engineapi serves the Docker Engine API for images, so that the
// docker CLI, docker-py, docker compose and IDEs drive berth through
// DOCKER_HOST as they drive a Docker daemon (`berth system service`).
//
// It owns the HTTP edge only: routing with and without the /vX.Y prefix,
// version negotiation (API 1.24 to 1.50, the daemon's wording when a client
// is out of range), the daemon's error shapes and status codes, Docker's
// JSON-message streams, the X-Registry-Auth and X-Registry-Config headers,
// the Unix or TCP listener, and the answers that let clients carry on where
// berth has no such object (containers, networks, volumes, plugins, swarm).
//
// Every image endpoint calls the function of the package that owns the work
// — the same function the matching berth command calls — and only decodes
// the request and encodes the result. No command's logic is written here.
// Where the wire types of github.com/moby/moby/api describe a response they
// are used; where the API 1.50 shape that clients expect differs from the
// types of that module (which describes a newer API), the difference is
// spelt out next to the response (see legacy.go).
//
// It must not import internal/cli (which wires it). The reference is the
// Engine API specification, v1.50 (docs/api/v1.50.yaml in moby/moby).
package engineapi
