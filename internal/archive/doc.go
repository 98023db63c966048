// Package archive reads and writes image archives: the tar files of
// `docker save`/`docker load`, Podman and skopeo (docker-archive: and
// oci-archive:) and OCI image layouts packed in a tar.
//
// It owns the archive formats and their safety rules, nothing else:
//
//   - Write streams images and indexes (go-containerregistry values) into one
//     tar, each blob once, in Docker's current layout (an OCI image layout
//     plus the legacy manifest.json and repositories files that older readers
//     use) or as a pure OCI image layout. The output is a function of the
//     input only: same images and names, same bytes.
//   - Load streams an archive (plain, gzip, zstd, bzip2 or xz, detected from
//     the bytes) into a Sink as it is read: every blob is verified against the
//     digest its path names, or hashed, before it is kept, and the manifests
//     and names are resolved at the end, because Docker archives may list
//     manifest.json last. What it stores is bounded by what the descriptors
//     declare (needs.go): from a file or directory every header and manifest
//     is read first, so a size that contradicts its descriptor is refused
//     and an unreferenced entry skipped before anything is stored; from a
//     stream each entry is checked as soon as its descriptor is known, and
//     what comes before (specBudget) is bounded by the compressed bytes read. Entries with "..", absolute names, links that point
//     outside the archive, truncated data or a wrong digest make the whole
//     load fail and name no image; the blobs it stored are left to the
//     store's garbage collection, which cli runs at once. LoadDir reads an
//     unpacked archive or OCI layout directory under the same rules.
//   - Unpack extracts a tar into a directory through an os.Root (a build
//     context sent as a tar, --output type=local); ReadContext tells a
//     context tar from a bare Dockerfile on stdin or from a URL; Unpacker is
//     the same entry writer for build's COPY --from layer stacking.
//
// Nothing is recompressed either way: blobs travel byte for byte, so manifest
// digests survive a save/load round trip, and old-style archives (layers
// named by path, not digest) get an OCI manifest whose layers are exactly the
// archived files, compressed or not.
//
// Specs: OCI image-layout v1.1 (https://github.com/opencontainers/image-spec/blob/main/image-layout.md),
// Docker's image tar format (moby image/spec, "manifest.json" with Config,
// RepoTags and Layers), POSIX/GNU tar as read by archive/tar.
//
// archive builds on ref and fsutil only (internal/depcheck pins this); it
// must not import store, cli, remote, build or any network package. Load
// writes into a Sink (StoreSink adapts any store with the BlobStore methods;
// cli passes the local store) and Write takes go-containerregistry values, so
// neither knows where images live.
package archive
