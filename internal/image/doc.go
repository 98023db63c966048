// Package image is berth's image model beyond go-containerregistry's types.
// It owns, once each:
//   - opening an image from any source (Open): the local store and a
//     registry through the small StoreReader and RegistryReader interfaces
//     cli wires (so this package imports neither store nor remote),
//     `docker save` archives, OCI archives and OCI image layouts read in
//     place (image-spec image-layout.md); every blob from an untrusted
//     source is checked against its descriptor as it streams (Verify);
//   - the platform rules: this machine's platform (HostPlatform), parsing
//     --platform, and choosing an index's child by Docker's (containerd's)
//     matching rules (PickManifest, PlatformMatches);
//   - decompression: detecting gzip, zstd, bzip2 and xz from the bytes and
//     bounding the decoder's memory (Decompress);
//   - the manifests, indexes and configs berth writes itself (MarshalManifest,
//     MarshalIndex, MarshalConfig), and Dockerfile-style config changes
//     (import --change);
//   - turning a root-filesystem tar into a layer (WriteLayer).
//
// No other package defines manifest structs. Tar entry names follow
// fsutil.CleanTarName, which lives below this package so that the sandbox,
// a leaf, shares the rule. The package builds on the leaves (fsutil, ref)
// and the field libraries (go-containerregistry, BuildKit's Dockerfile
// parser, klauspost/compress, ulikunitz/xz); it must not import store,
// remote or any package above it.
package image
