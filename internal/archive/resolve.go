package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// resolve turns what read collected into images: from index.json when the
// archive has one (Docker 25+, Podman and skopeo oci-archive, OCI layouts),
// else from manifest.json (older Docker, skopeo and Podman docker-archive).
func (l *loader) resolve(ctx context.Context) ([]Loaded, error) {
	var items []dockerItem
	if b, ok := l.meta[manifestFile]; ok {
		if err := json.Unmarshal(b, &items); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", manifestFile, err)
		}
	}
	if b, ok := l.meta[indexFile]; ok {
		return l.fromIndex(ctx, b, items)
	}
	if _, ok := l.meta[manifestFile]; ok {
		return l.fromDockerManifest(ctx, items)
	}
	if l.hasLegacyLayers() {
		return l.fromLegacy(ctx)
	}
	return nil, fmt.Errorf("%w: it has neither manifest.json nor index.json", ErrNotArchive)
}

func (l *loader) fromIndex(ctx context.Context, b []byte, items []dockerItem) ([]Loaded, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", indexFile, err)
	}
	// Names Docker put in manifest.json, by config, for index entries that
	// carry no name annotation of their own.
	tagsByConfig := map[string][]string{}
	for _, it := range items {
		tagsByConfig[it.Config] = append(tagsByConfig[it.Config], it.RepoTags...)
	}
	var out []Loaded
	at := map[v1.Hash]int{}
	add := func(ld Loaded) {
		if i, ok := at[ld.Descriptor.Digest]; ok {
			for _, n := range ld.Names {
				if !contains(out[i].Names, n) {
					out[i].Names = append(out[i].Names, n)
				}
			}
			return
		}
		at[ld.Descriptor.Digest] = len(out)
		out = append(out, ld)
	}
	for _, d := range idx.Manifests {
		cfg, err := l.check(ctx, d, 0, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", indexFile, err)
		}
		names := l.annotationNames(d)
		if len(names) == 0 && cfg != "" {
			for _, t := range tagsByConfig[cfg] {
				names = append(names, l.normalize(t, d.Digest)...)
			}
		}
		add(Loaded{Descriptor: v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest}, Names: names})
	}
	// Docker 25 to 27 write an image saved by ID (`docker save <id>`) into
	// manifest.json only: index.json has "manifests": null, or lists just
	// the tagged images saved beside it. Docker loads those from
	// manifest.json, as untagged images; so does berth.
	for i, it := range items {
		if c, err := cleanName(it.Config); err == nil && l.configs[c] {
			continue
		}
		ld, err := l.dockerItem(ctx, it)
		if err != nil {
			return nil, fmt.Errorf("%s image %d: %w", manifestFile, i+1, err)
		}
		add(ld)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no images", indexFile)
	}
	return out, nil
}

// annotationNames reads an index.json entry's names: containerd's and
// Docker's full name, else an OCI ref.name that is a whole reference (Podman
// writes those); a bare tag such as "latest" names no repository.
func (l *loader) annotationNames(d v1.Descriptor) []string {
	if n := d.Annotations[annotationImageName]; n != "" {
		return l.normalize(n, d.Digest)
	}
	if n := d.Annotations[annotationRefName]; strings.ContainsAny(n, "/:@") {
		return l.normalize(n, d.Digest)
	}
	return nil
}

// normalize returns the full form of a name from the archive, or nothing
// when it is not a valid reference or is a digest reference to something
// else.
func (l *loader) normalize(n string, digest v1.Hash) []string {
	full, err := l.opts.Normalize(n)
	if err != nil {
		l.log.Debug("skipping name", "ref", n, "err", err)
		return nil
	}
	if _, d, ok := strings.Cut(full, "@"); ok && d != digest.String() {
		l.log.Debug("skipping digest name of other content", "ref", n)
		return nil
	}
	return []string{full}
}

// check verifies that the archive holds the blob d names, with d's size,
// and, for manifests and indexes, everything they reference. Children of an
// index may be absent (a single-platform save of a multi-platform image);
// anything else missing is an error. It returns the archive path of a
// manifest's config, for matching manifest.json names.
func (l *loader) check(ctx context.Context, d v1.Descriptor, depth int, required bool) (string, error) {
	if depth > maxDepth {
		return "", fmt.Errorf("index nesting deeper than %d levels", maxDepth)
	}
	if d.Digest.Algorithm != "sha256" || !isHex64(d.Digest.Hex) {
		return "", fmt.Errorf("unsupported digest %s", untrusted.Quote(d.Digest.String()))
	}
	p := blobPath("sha256", d.Digest.Hex)
	f, _, err := l.lookup(p)
	if err != nil {
		if !required {
			return "", nil
		}
		return "", fmt.Errorf("blob %s is missing from the archive", d.Digest)
	}
	if f.digest != d.Digest {
		return "", fmt.Errorf("entry %s has digest %s", untrusted.Quote(p), f.digest)
	}
	if f.size != d.Size {
		return "", fmt.Errorf("blob %s is %d bytes, its descriptor says %d", d.Digest, f.size, d.Size)
	}
	mt := d.MediaType
	if !mt.IsIndex() && !mt.IsImage() && depth == 0 {
		// Some writers leave the media type out of index.json; the
		// document says what it is.
		raw, err := l.readBlob(ctx, d.Digest, maxManifest)
		if err != nil {
			return "", err
		}
		var probe struct {
			MediaType types.MediaType `json:"mediaType"`
			Manifests json.RawMessage `json:"manifests"`
		}
		if json.Unmarshal(raw, &probe) == nil {
			mt = probe.MediaType
			if mt == "" && probe.Manifests != nil {
				mt = types.OCIImageIndex
			} else if mt == "" {
				mt = types.OCIManifestSchema1
			}
		}
	}
	switch {
	case mt.IsIndex():
		raw, err := l.readBlob(ctx, d.Digest, maxManifest)
		if err != nil {
			return "", err
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return "", fmt.Errorf("parsing index %s: %w", d.Digest, err)
		}
		for _, c := range idx.Manifests {
			if _, err := l.check(ctx, c, depth+1, false); err != nil {
				return "", err
			}
		}
		return "", nil
	case mt.IsImage():
		raw, err := l.readBlob(ctx, d.Digest, maxManifest)
		if err != nil {
			return "", err
		}
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return "", fmt.Errorf("parsing manifest %s: %w", d.Digest, err)
		}
		if err := l.checkLeaf(m.Config, true); err != nil {
			return "", fmt.Errorf("config of %s: %w", d.Digest, err)
		}
		for _, layer := range m.Layers {
			// Foreign layers live at their URLs, not in archives.
			if err := l.checkLeaf(layer, layer.MediaType.IsDistributable() || len(layer.URLs) == 0); err != nil {
				return "", fmt.Errorf("layer of %s: %w", d.Digest, err)
			}
		}
		cfg := blobPath("sha256", m.Config.Digest.Hex)
		l.configs[cfg] = true
		return cfg, nil
	case mt == types.DockerManifestSchema1 || mt == types.DockerManifestSchema1Signed:
		return "", fmt.Errorf("manifest %s is Docker schema 1, which is not supported", d.Digest)
	}
	return "", nil
}

// checkLeaf verifies a config or layer: present with the right size.
func (l *loader) checkLeaf(d v1.Descriptor, required bool) error {
	if d.Digest.Algorithm != "sha256" || !isHex64(d.Digest.Hex) {
		return fmt.Errorf("unsupported digest %s", untrusted.Quote(d.Digest.String()))
	}
	f, _, err := l.lookup(blobPath("sha256", d.Digest.Hex))
	if err != nil {
		if !required {
			return nil
		}
		return fmt.Errorf("blob %s is missing from the archive", d.Digest)
	}
	if f.digest != d.Digest {
		return fmt.Errorf("blob %s has digest %s", d.Digest, f.digest)
	}
	if f.size != d.Size {
		return fmt.Errorf("blob %s is %d bytes, its descriptor says %d", d.Digest, f.size, d.Size)
	}
	return nil
}

func (l *loader) readBlob(ctx context.Context, h v1.Hash, limit int64) ([]byte, error) {
	rc, err := l.sink.Open(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", h, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", h, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes, too large for a manifest or config", h, limit)
	}
	return b, nil
}

// fromDockerManifest builds an OCI manifest for each manifest.json item, as
// Docker 25 does for the images it loads from old archives: config and
// layers byte for byte as archived, layer media types from their bytes.
func (l *loader) fromDockerManifest(ctx context.Context, items []dockerItem) ([]Loaded, error) {
	if len(items) == 0 {
		return nil, fmt.Errorf("%s lists no images", manifestFile)
	}
	var out []Loaded
	for i, it := range items {
		ld, err := l.dockerItem(ctx, it)
		if err != nil {
			return nil, fmt.Errorf("%s image %d: %w", manifestFile, i+1, err)
		}
		out = append(out, ld)
	}
	return out, nil
}

func (l *loader) dockerItem(ctx context.Context, it dockerItem) (Loaded, error) {
	cf, _, err := l.lookup(it.Config)
	if err != nil {
		return Loaded{}, err
	}
	raw, err := l.readBlob(ctx, cf.digest, maxManifest)
	if err != nil {
		return Loaded{}, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return Loaded{}, fmt.Errorf("parsing config %s: %w", untrusted.Quote(it.Config), err)
	}
	if len(cfg.RootFS.DiffIDs) != len(it.Layers) {
		return Loaded{}, fmt.Errorf("config %s lists %d layers, manifest.json %d", untrusted.Quote(it.Config), len(cfg.RootFS.DiffIDs), len(it.Layers))
	}
	layers := []v1.Descriptor{}
	for i, p := range it.Layers {
		f, _, err := l.lookup(p)
		if err != nil {
			return Loaded{}, err
		}
		mt, err := l.verifyDiffID(ctx, p, f, cfg.RootFS.DiffIDs[i])
		if err != nil {
			return Loaded{}, err
		}
		layers = append(layers, v1.Descriptor{MediaType: mt, Size: f.size, Digest: f.digest})
	}
	m, err := image.MarshalManifest(v1.Descriptor{MediaType: types.OCIConfigJSON, Size: cf.size, Digest: cf.digest}, layers, nil)
	if err != nil {
		return Loaded{}, fmt.Errorf("encoding manifest: %w", err)
	}
	d, n, err := l.sink.Put(ctx, m.Descriptor.Digest, m.Descriptor.Size, bytes.NewReader(m.Bytes))
	if err != nil {
		return Loaded{}, fmt.Errorf("storing manifest: %w", err)
	}
	desc := v1.Descriptor{MediaType: m.Descriptor.MediaType, Size: n, Digest: d}
	var names []string
	for _, t := range it.RepoTags {
		names = append(names, l.normalize(t, d)...)
	}
	return Loaded{Descriptor: desc, Names: names}, nil
}

// verifyDiffID checks a layer file against the uncompressed digest its
// config names, which is all an old-style archive says about it, and returns
// the layer's media type.
func (l *loader) verifyDiffID(ctx context.Context, p string, f fileInfo, diffID v1.Hash) (types.MediaType, error) {
	got, mt, err := l.diffID(ctx, p, f)
	if err != nil {
		return "", err
	}
	if got != diffID {
		if f.comp == image.Uncompressed {
			return "", fmt.Errorf("layer %s has digest %s, its config says %s", untrusted.Quote(p), got, diffID)
		}
		return "", fmt.Errorf("layer %s uncompresses to %s, its config says %s", untrusted.Quote(p), got, diffID)
	}
	return mt, nil
}

// diffID returns the digest of a layer file's uncompressed tar and the
// layer's media type.
func (l *loader) diffID(ctx context.Context, p string, f fileInfo) (v1.Hash, types.MediaType, error) {
	var mt types.MediaType
	switch f.comp {
	case image.Uncompressed:
		return f.digest, types.OCIUncompressedLayer, nil
	case image.Gzip:
		mt = types.OCILayer
	case image.Zstd:
		mt = types.OCILayerZStd
	default:
		return v1.Hash{}, "", fmt.Errorf("layer %s is %s-compressed; only gzip and zstd layers can be stored", untrusted.Quote(p), f.comp)
	}
	rc, err := l.sink.Open(ctx, f.digest)
	if err != nil {
		return v1.Hash{}, "", fmt.Errorf("reading layer %s: %w", untrusted.Quote(p), err)
	}
	defer rc.Close()
	zr, _, err := image.Decompress(rc)
	if err != nil {
		return v1.Hash{}, "", fmt.Errorf("layer %s: %w", untrusted.Quote(p), err)
	}
	defer zr.Close()
	h := sha256.New()
	if _, err := io.Copy(h, zr); err != nil {
		return v1.Hash{}, "", fmt.Errorf("layer %s: decompressing: %w", untrusted.Quote(p), err)
	}
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}, mt, nil
}
