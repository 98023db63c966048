package image

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The OCI image layout (image-spec image-layout.md: oci-layout, index.json,
// blobs/<alg>/<hex>), read from a directory or from a tar of one (an OCI
// archive, skopeo's and podman's oci-archive:), in place: nothing is
// copied or extracted.

// MaxJSON bounds an index, manifest or config read into memory from an
// untrusted source.
const MaxJSON = 32 << 20

// layoutFiles reads the files of an OCI layout, from a directory or a tar.
type layoutFiles interface {
	open(name string) (io.ReadCloser, error)
}

type dirFiles string

func (d dirFiles) open(name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
}

// tarFiles serves the entries of an uncompressed tar file by offset, so
// each blob is read straight from the archive.
type tarFiles struct {
	f       io.ReaderAt
	entries map[string]tarEntry
}

type tarEntry struct{ off, size int64 }

func (t *tarFiles) has(name string) bool { _, ok := t.entries[name]; return ok }

func (t *tarFiles) open(name string) (io.ReadCloser, error) {
	e, ok := t.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, os.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, e.off, e.size)), nil
}

// maxTarEntries bounds the index of an archive's entries: a layout holds a
// few files per image, not millions.
const maxTarEntries = 1 << 20

// indexTar lists a tar's regular files with their data offsets, seeking
// past the data. headOnly stops after the first 64 entries (detection).
// Names follow fsutil.CleanTarName; entries with names it refuses, and
// links, are left out, so they can never be served.
func indexTar(f io.ReadSeeker, headOnly bool) (*tarFiles, error) {
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return nil, errors.New("reading archive: not a seekable file")
	}
	t := &tarFiles{f: ra, entries: map[string]tarEntry{}}
	tr := tar.NewReader(f)
	for n := 0; ; n++ {
		if headOnly && n >= 64 {
			break
		}
		if n >= maxTarEntries {
			return nil, fmt.Errorf("reading archive: more than %d entries", maxTarEntries)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name, err := fsutil.CleanTarName(hdr.Name)
		if err != nil || name == "" {
			continue
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		t.entries[name] = tarEntry{off, hdr.Size}
	}
	return t, nil
}

func openOCIArchive(file string, p *v1.Platform) (*Opened, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("opening oci archive: %w", err)
	}
	t, err := indexTar(f, false)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading oci archive %s: %w", file, err)
	}
	img, err := layoutImage(t, "", p)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading oci archive %s: %w", file, err)
	}
	return &Opened{Image: img, Kind: SourceOCIArchive, Name: file, StoredBlobs: true, closers: []io.Closer{f}}, nil
}

func openLayout(arg string, p *v1.Platform) (*Opened, error) {
	dir, tag := arg, ""
	if fi, err := os.Stat(arg); err != nil || !fi.IsDir() {
		if d, t, ok := cutTag(arg); ok {
			dir, tag = d, t
		}
	}
	img, err := layoutImage(dirFiles(dir), tag, p)
	if err != nil {
		return nil, fmt.Errorf("reading oci layout %s: %w", dir, err)
	}
	return &Opened{Image: img, Kind: SourceOCILayout, Name: arg, StoredBlobs: true}, nil
}

func readFile(b layoutFiles, name string) ([]byte, error) {
	rc, err := b.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxJSON+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxJSON {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, MaxJSON)
	}
	return data, nil
}

// blobName is where a layout keeps the blob with digest h.
func blobName(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" && h.Algorithm != "sha512" {
		return "", fmt.Errorf("unsupported digest algorithm %s", untrusted.Quote(h.Algorithm))
	}
	if _, err := hex.DecodeString(h.Hex); err != nil || h.Hex == "" {
		return "", fmt.Errorf("malformed digest %s", untrusted.Quote(h.String()))
	}
	return "blobs/" + h.Algorithm + "/" + h.Hex, nil
}

// readBlob reads a small blob and checks it against its descriptor.
func readBlob(b layoutFiles, d v1.Descriptor) ([]byte, error) {
	name, err := blobName(d.Digest)
	if err != nil {
		return nil, err
	}
	rc, err := b.open(name)
	if err != nil {
		return nil, err
	}
	return ReadVerified(rc, d, MaxJSON)
}

const refNameAnnotation = "org.opencontainers.image.ref.name"

// layoutImage picks the image named tag (any, when the layout holds one)
// for the platform and returns it as a lazy v1.Image.
func layoutImage(b layoutFiles, tag string, p *v1.Platform) (v1.Image, error) {
	raw, err := readFile(b, "index.json")
	if err != nil {
		return nil, fmt.Errorf("reading index.json: %w", err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("parsing index.json: %w", err)
	}
	var desc *v1.Descriptor
	for i, d := range idx.Manifests {
		n := d.Annotations[refNameAnnotation]
		if tag == "" || n == tag || strings.HasSuffix(n, ":"+tag) {
			if desc != nil && tag == "" {
				return nil, errors.New("it holds several images; name one as oci:DIR:TAG")
			}
			desc = &idx.Manifests[i]
			if tag != "" {
				break
			}
		}
	}
	if desc == nil {
		if tag != "" {
			return nil, fmt.Errorf("no image tagged %s", untrusted.Quote(tag))
		}
		return nil, errors.New("it holds no image")
	}
	for depth := 0; desc.MediaType.IsIndex(); depth++ {
		if depth > 4 {
			return nil, errors.New("indexes nested too deep")
		}
		raw, err := readBlob(b, *desc)
		if err != nil {
			return nil, err
		}
		var child v1.IndexManifest
		if err := json.Unmarshal(raw, &child); err != nil {
			return nil, fmt.Errorf("parsing index %s: %w", desc.Digest, err)
		}
		d, err := PickManifest(&child, p, nil)
		if err != nil {
			return nil, fmt.Errorf("%w (use --platform)", err)
		}
		desc = &d
	}
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("unsupported manifest media type %s", untrusted.Quote(string(desc.MediaType)))
	}
	rawManifest, err := readBlob(b, *desc)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", desc.Digest, err)
	}
	return partial.CompressedToImage(&layoutCore{b: b, raw: rawManifest, m: m, mt: desc.MediaType})
}

type layoutCore struct {
	b   layoutFiles
	raw []byte
	m   *v1.Manifest
	mt  types.MediaType
}

func (c *layoutCore) RawConfigFile() ([]byte, error)      { return readBlob(c.b, c.m.Config) }
func (c *layoutCore) MediaType() (types.MediaType, error) { return c.mt, nil }
func (c *layoutCore) RawManifest() ([]byte, error)        { return c.raw, nil }
func (c *layoutCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range c.m.Layers {
		if l.Digest == h {
			return &layoutLayer{b: c.b, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the manifest", h)
}

type layoutLayer struct {
	b    layoutFiles
	desc v1.Descriptor
}

func (l *layoutLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *layoutLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *layoutLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

// Compressed streams the blob, checked against its descriptor as it goes
// (Verify): a tampered layout is reported rather than analyzed.
func (l *layoutLayer) Compressed() (io.ReadCloser, error) {
	name, err := blobName(l.desc.Digest)
	if err != nil {
		return nil, err
	}
	rc, err := l.b.open(name)
	if err != nil {
		return nil, err
	}
	return Verify(rc, l.desc)
}
