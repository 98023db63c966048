// Package remote is berth's registry client: the bytes on the wire between a
// registry and the local store.
//
// It owns Docker's client-side registry configuration (config.json with
// auths, credsStore, credHelpers and identity tokens; the docker-credential-*
// helper protocol), berth's own settings file (daemon.json's
// registry-mirrors, insecure-registries and concurrency keys), TLS trust with
// Docker's certs.d layout, the plain-HTTP rules for loopback and insecure
// registries, and pull/push/login/search over the OCI distribution spec
// (https://github.com/opencontainers/distribution-spec) through
// github.com/google/go-containerregistry.
//
// Pulls write into a BlobSink the caller provides (the local store satisfies
// it); pushes read v1.Image / v1.ImageIndex values. The package must not
// import internal/store, internal/cli or any other area's package: it is
// wired to the store only in cli.
//
// Errors are classified into four causes (unreachable host, authentication,
// unknown manifest, TLS) by Classify so the CLI can print one line and a hint.
package remote
