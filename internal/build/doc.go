// Package build turns a parsed Dockerfile (internal/dockerfile) and a build
// context into an OCI image: it plans the stages the target needs, runs
// independent stages concurrently, keeps a content-addressed step cache that
// explains its misses, makes COPY/ADD layers itself, runs RUN through an
// Executor, and writes image config and history as Docker (BuildKit) does.
//
// Besides Build, it owns the build command's whole work: Run takes a Request
// (docker build's flags as the user typed them, for `berth build` and the
// Engine API's POST /build alike), reads the context — a directory, a tar or
// Dockerfile on stdin, a Git or http(s) URL, named contexts — turns the
// request into Options as Docker applies it (BuildArgs, Labels, Secrets,
// SourceDateEpoch, ReadIgnore), builds in the per-build Workspace and keeps
// the image. It also owns the build cache's Prune and StateUsage.
//
// It declares the small interfaces it needs — ImageSource for FROM, BlobStore
// for layers and manifests, Executor for RUN, ImageKeeper for the result —
// and must not import the
// store, remote, sandbox or cli packages; cli wires the concrete ones.
//
// On-disk state (under Options.StateDir, normally ROOT/build):
//
//	cache/<kk>/<key>.json one cached layer step: its layer descriptor and
//	                      creation time, by cache key (kk: the key's first
//	                      two hex digits)
//	last/<id>.json        what every step of the last build of a Dockerfile
//	                      saw (instruction, args, file digests), to say why a
//	                      step was not cached; id from context dir + file name
//	index/<id>.json       stat index of a context directory: path → size,
//	                      mtime, inode, digest, so files are hashed once
//	mounts/<id>/          RUN --mount=type=cache directories, kept
//	tmp/build-<r>/        one build's temp files (Workspace: contexts from
//	                      stdin or a URL, Git clones, ADD downloads, COPY
//	                      --from and bind unpacks, heredocs, env secrets,
//	                      RUN's sandbox state), removed when the build ends;
//	tmp/build-<r>.lock    flocked while it runs, so the next build or
//	                      Prune removes what a killed build left
//
// Specs: the Dockerfile reference, the OCI image spec (manifest, config,
// layer with whiteouts) and Docker's image config/history conventions
// (created_by, empty_layer, comment "buildkit.dockerfile.v0").
package build
