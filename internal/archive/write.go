package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Format is the layout Write produces.
type Format string

const (
	// FormatDocker is what Docker 25 and later write: an OCI image layout plus
	// manifest.json and repositories, so that every docker load (old and new),
	// Podman and skopeo's docker-archive: read it.
	FormatDocker Format = "docker"
	// FormatOCI is a pure OCI image layout in a tar (skopeo's oci-archive:).
	FormatOCI Format = "oci"
)

// Annotation keys of index.json entries. Docker and containerd name an image
// with the full reference in the first and the tag alone in the second.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// Entry is one image or index to save and the references it is saved under.
type Entry struct {
	Image v1.Image      // exactly one of Image and Index
	Index v1.ImageIndex // an index is saved with every child that is available
	// Names are full references: "docker.io/library/busybox:latest" or
	// "docker.io/library/busybox@sha256:…". None saves the image by ID.
	Names []string
}

// WriteOptions tune Write. The zero value writes Docker's format.
type WriteOptions struct {
	Format Format
	// Platform picks which child of an index old readers see in
	// manifest.json; nil means this machine's.
	Platform *v1.Platform
	// Missing reports whether an error met while opening a child of an index
	// means the child is not stored here (a single-platform pull). Such
	// children are left out as Docker leaves them out; with a nil Missing
	// every error is fatal.
	Missing func(error) bool
	// Hold, when set, is called for every blob before the first byte is
	// written, so that the source keeps them for the whole save (the local
	// store leases them against a concurrent garbage collection).
	Hold func(v1.Hash) error
}

// epoch is every entry's modification time: archives are a function of
// their content, not of when they were written.
var epoch = time.Unix(0, 0).UTC()

// blobSource is one blob to write: its bytes in memory (manifests, configs)
// or a way to stream them (layers).
type blobSource struct {
	digest v1.Hash
	size   int64
	data   []byte
	open   func() (io.ReadCloser, error)
}

// dockerItem is one element of Docker's manifest.json.
type dockerItem struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// plan is everything Write puts in the archive, gathered before the first
// byte is written so that blobs can go out once each, in digest order.
type plan struct {
	blobs    map[string]*blobSource // by hex
	index    v1.IndexManifest
	items    []dockerItem
	repos    map[string]map[string]string // familiar repository → tag → top layer hex
	opts     WriteOptions
	platform v1.Platform
}

// Write streams entries to w as one tar archive. It reads each layer once,
// keeps none in memory and checks every blob against its digest as it goes;
// a blob that does not match fails the write.
func Write(ctx context.Context, w io.Writer, entries []Entry, opts WriteOptions) error {
	if opts.Format == "" {
		opts.Format = FormatDocker
	}
	if opts.Format != FormatDocker && opts.Format != FormatOCI {
		return fmt.Errorf("unknown archive format %q (want %q or %q)", opts.Format, FormatDocker, FormatOCI)
	}
	p := &plan{
		blobs: map[string]*blobSource{},
		index: v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}},
		repos: map[string]map[string]string{},
		opts:  opts,
	}
	if opts.Platform != nil {
		p.platform = *opts.Platform
	} else {
		p.platform = image.HostPlatform()
	}
	for _, e := range mergeEntries(entries) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.addEntry(e); err != nil {
			return err
		}
	}
	return p.write(ctx, w)
}

// mergeEntries folds entries naming the same manifest into one, keeping the
// first one's position, so that each image appears once in manifest.json.
func mergeEntries(entries []Entry) []Entry {
	var out []Entry
	at := map[string]int{}
	for _, e := range entries {
		d, err := entryDigest(e)
		if err != nil {
			out = append(out, e) // addEntry reports the error
			continue
		}
		if i, ok := at[d.String()]; ok {
			for _, n := range e.Names {
				if !contains(out[i].Names, n) {
					out[i].Names = append(out[i].Names, n)
				}
			}
			continue
		}
		at[d.String()] = len(out)
		e.Names = append([]string(nil), e.Names...)
		out = append(out, e)
	}
	return out
}

func entryDigest(e Entry) (v1.Hash, error) {
	if e.Image != nil {
		return e.Image.Digest()
	}
	if e.Index != nil {
		return e.Index.Digest()
	}
	return v1.Hash{}, errors.New("archive entry has neither an image nor an index")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *plan) addEntry(e Entry) error {
	var desc v1.Descriptor
	var item *dockerItem
	switch {
	case e.Image != nil:
		d, it, err := p.addImage(e.Image)
		if err != nil {
			return err
		}
		desc, item = d, it
	case e.Index != nil:
		d, it, err := p.addIndex(e.Index, 0)
		if err != nil {
			return err
		}
		desc, item = d, it
	default:
		return errors.New("archive entry has neither an image nor an index")
	}

	var tags []string
	for _, n := range e.Names {
		d := desc
		d.Annotations = map[string]string{annotationImageName: n}
		if tag, ok := tagOf(n); ok {
			d.Annotations[annotationRefName] = tag
			tags = append(tags, familiar(n))
		}
		p.index.Manifests = append(p.index.Manifests, d)
	}
	if len(e.Names) == 0 {
		p.index.Manifests = append(p.index.Manifests, desc)
	}
	if item != nil {
		it := *item
		it.RepoTags = tags
		p.items = append(p.items, it)
		if len(it.Layers) > 0 {
			top := strings.TrimPrefix(it.Layers[len(it.Layers)-1], blobsDir+"/sha256/")
			for _, t := range tags {
				repo, tag, _ := cutTag(t)
				if p.repos[repo] == nil {
					p.repos[repo] = map[string]string{}
				}
				p.repos[repo][tag] = top
			}
		}
	}
	return nil
}

// addImage adds an image's manifest, config and layers and returns its
// descriptor and its manifest.json item.
func (p *plan) addImage(img v1.Image) (v1.Descriptor, *dockerItem, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("reading manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("reading manifest media type: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("parsing manifest: %w", err)
	}
	desc := v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: sha256Hash(raw)}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return desc, nil, fmt.Errorf("reading config of %s: %w", desc.Digest, err)
	}
	p.addBytes(m.Config.Digest, cfg)
	item := &dockerItem{Config: blobPath("sha256", m.Config.Digest.Hex)}
	for _, l := range m.Layers {
		item.Layers = append(item.Layers, blobPath("sha256", l.Digest.Hex))
		if _, ok := p.blobs[l.Digest.Hex]; ok {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return desc, nil, fmt.Errorf("opening layer %s of %s: %w", l.Digest, desc.Digest, err)
		}
		// Lazy layers (the store's) can say up front whether their blob is
		// here, so that an incomplete child of an index is skipped whole.
		if ex, ok := layer.(interface{ Exists() (bool, error) }); ok {
			if found, err := ex.Exists(); err == nil && !found {
				return desc, nil, fmt.Errorf("layer %s of %s: %w", l.Digest, desc.Digest, ErrMissingBlob)
			}
		}
		p.blobs[l.Digest.Hex] = &blobSource{digest: l.Digest, size: l.Size, open: layer.Compressed}
	}
	p.addBytes(desc.Digest, raw)
	return desc, item, nil
}

// addIndex adds an index and each child that can be read; its manifest.json
// item is that of the child for the chosen platform, if present.
func (p *plan) addIndex(idx v1.ImageIndex, depth int) (v1.Descriptor, *dockerItem, error) {
	if depth > 8 {
		return v1.Descriptor{}, nil, errors.New("index nesting deeper than 8 levels")
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("reading index: %w", err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("reading index media type: %w", err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("parsing index: %w", err)
	}
	desc := v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: sha256Hash(raw)}
	items := map[v1.Hash]*dockerItem{}
	for _, child := range im.Manifests {
		switch {
		case child.MediaType.IsIndex():
			sub, err := idx.ImageIndex(child.Digest)
			if err == nil {
				_, _, err = p.addIndex(sub, depth+1)
			}
			if err != nil && !p.missing(err) {
				return desc, nil, fmt.Errorf("saving index %s: %w", child.Digest, err)
			}
		case child.MediaType.IsImage():
			img, err := idx.Image(child.Digest)
			var it *dockerItem
			if err == nil {
				_, it, err = p.addImage(img)
			}
			if err != nil {
				if p.missing(err) {
					continue
				}
				return desc, nil, fmt.Errorf("saving manifest %s: %w", child.Digest, err)
			}
			items[child.Digest] = it
		}
	}
	var item *dockerItem
	if pick, err := image.PickManifest(im, &p.platform, func(d v1.Descriptor) bool { return items[d.Digest] != nil }); err == nil {
		item = items[pick.Digest]
	}
	p.addBytes(desc.Digest, raw)
	return desc, item, nil
}

// ErrMissingBlob reports a layer that the image names but its source does
// not have; Write leaves such a child of an index out.
var ErrMissingBlob = errors.New("blob not available")

func (p *plan) missing(err error) bool {
	return errors.Is(err, ErrMissingBlob) || p.opts.Missing != nil && p.opts.Missing(err)
}

func (p *plan) addBytes(d v1.Hash, b []byte) {
	if _, ok := p.blobs[d.Hex]; !ok {
		p.blobs[d.Hex] = &blobSource{digest: d, size: int64(len(b)), data: b}
	}
}

func (p *plan) write(ctx context.Context, w io.Writer) error {
	hexes := make([]string, 0, len(p.blobs))
	for h := range p.blobs {
		hexes = append(hexes, h)
	}
	sort.Strings(hexes)
	if p.opts.Hold != nil {
		for _, h := range hexes {
			if err := p.opts.Hold(p.blobs[h].digest); err != nil {
				return fmt.Errorf("holding blob %s: %w", p.blobs[h].digest, err)
			}
		}
	}
	out := newTarOut(w)
	for _, dir := range []string{blobsDir + "/", blobsDir + "/sha256/"} {
		if err := out.header(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return fmt.Errorf("writing archive: %w", err)
		}
	}
	ordered := make([]*blobSource, len(hexes))
	for i, h := range hexes {
		ordered[i] = p.blobs[h]
	}
	pending, stop := verifyAhead(ctx, ordered, max(2, runtime.GOMAXPROCS(0)))
	defer stop()
	for i, b := range ordered {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := out.blob(ctx, b, pending[i]); err != nil {
			return err
		}
	}

	type file struct {
		name string
		v    any
	}
	index, err := image.MarshalIndex(p.index.Manifests, nil)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", indexFile, err)
	}
	files := []file{{indexFile, json.RawMessage(index.Bytes)}}
	if p.opts.Format == FormatDocker {
		items := p.items
		if items == nil {
			items = []dockerItem{}
		}
		files = append(files, file{manifestFile, items})
	}
	files = append(files, file{layoutFile, v1LayoutMarker})
	if p.opts.Format == FormatDocker && len(p.repos) > 0 {
		files = append(files, file{repositoriesFile, p.repos})
	}
	for _, f := range files {
		b, err := json.Marshal(f.v)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", f.name, err)
		}
		if err := out.file(f.name, b); err != nil {
			return err
		}
	}
	return out.close()
}

// v1LayoutMarker is the content of oci-layout.
var v1LayoutMarker = struct {
	Version string `json:"imageLayoutVersion"`
}{"1.0.0"}

func sha256Hash(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}
