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
// Image opens a registry image lazily (dive and scan read it without
// storing it) through the same mirrors, transport and credentials as a
// pull, verifying each blob as it streams.
//
// Pulls write into a BlobSink the caller provides (the local store satisfies
// it); pushes read v1.Image / v1.ImageIndex values. The commands are
// functions here that the CLI and the Engine API both call: PullImage (into
// an ImageStore, which *store.Store satisfies), reporting through Events —
// Docker's per-layer statuses and the lines about the image as a whole. The package must not
// import internal/store, internal/cli or any other area's package: it is
// wired to the store only in cli.
//
// A blob download goes to PartialDir/sha256-<hex> (the CLI uses
// ROOT/remote/partial), flocked while in use. A broken connection is
// continued with "Range: bytes=N-" up to four times in a run; a run that
// gives up or is interrupted leaves the file, and the next run hashes what is
// there and asks only for the rest. Bytes reach the store in one of three
// ways, best first: BlobFileSink (the file, written with O_DIRECT through
// fsutil.DirectWriter while it downloads, verified and fsynced, is renamed in),
// BlobWriterSink (the sink's writer is fed as bytes arrive and verifies on
// Commit), or WriteBlob from the finished file. Nothing enters the store
// before its size and digest are checked.
//
// Errors are classified into four causes (unreachable host, authentication,
// unknown manifest, TLS) by Classify so the CLI can print one line and a hint.
package remote
