package source

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxJSON bounds index, manifest and config blobs read into memory.
const maxJSON = 32 << 20

// blobs reads the files of an OCI layout, from a directory or a tar.
type blobs interface {
	open(name string) (io.ReadCloser, error)
}

type dirBlobs string

func (d dirBlobs) open(name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
}

// tarBlobs serves the entries of an (uncompressed) tar file by offset, so
// each layer is read straight from the archive with no copy.
type tarBlobs struct {
	f       *os.File
	entries map[string]tarEntry
}

type tarEntry struct{ off, size int64 }

func (t *tarBlobs) has(name string) bool { _, ok := t.entries[name]; return ok }

func (t *tarBlobs) open(name string) (io.ReadCloser, error) {
	e, ok := t.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, os.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, e.off, e.size)), nil
}

// indexTar lists a tar's regular files with their data offsets, seeking
// past the data. headOnly stops after the first few entries (for detection).
func indexTar(f *os.File, headOnly bool) (*tarBlobs, error) {
	t := &tarBlobs{f: f, entries: map[string]tarEntry{}}
	tr := tar.NewReader(f)
	for n := 0; ; n++ {
		if headOnly && n >= 64 {
			break
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
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		name := strings.TrimPrefix(path.Clean(hdr.Name), "./")
		t.entries[name] = tarEntry{off, hdr.Size}
	}
	return t, nil
}

func openOCIArchive(file string, opts Options) (*Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("opening oci archive: %w", err)
	}
	t, err := indexTar(f, false)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading oci archive %s: %w", file, err)
	}
	img, err := layoutImage(t, "", opts.Platform)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading oci archive %s: %w", file, err)
	}
	return &Image{Image: img, Kind: OCIArchive, Name: file, StoredBlobs: true, closers: []io.Closer{f}}, nil
}

func openLayout(arg string, opts Options) (*Image, error) {
	dir, tag := arg, ""
	if fi, err := os.Stat(arg); err != nil || !fi.IsDir() {
		if d, t, ok := cutTag(arg); ok {
			dir, tag = d, t
		}
	}
	img, err := layoutImage(dirBlobs(dir), tag, opts.Platform)
	if err != nil {
		return nil, fmt.Errorf("reading oci layout %s: %w", dir, err)
	}
	return &Image{Image: img, Kind: OCILayout, Name: arg, StoredBlobs: true}, nil
}

func readAll(b blobs, name string) ([]byte, error) {
	rc, err := b.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJSON {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxJSON)
	}
	return data, nil
}

func blobName(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" && h.Algorithm != "sha512" {
		return "", fmt.Errorf("unsupported digest algorithm %q", h.Algorithm)
	}
	if _, err := hex.DecodeString(h.Hex); err != nil || h.Hex == "" {
		return "", fmt.Errorf("malformed digest %q", h)
	}
	return "blobs/" + h.Algorithm + "/" + h.Hex, nil
}

// readBlob reads a JSON blob and checks it against its digest.
func readBlob(b blobs, h v1.Hash) ([]byte, error) {
	name, err := blobName(h)
	if err != nil {
		return nil, err
	}
	data, err := readAll(b, name)
	if err != nil {
		return nil, err
	}
	if h.Algorithm == "sha256" {
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != h.Hex {
			return nil, fmt.Errorf("blob %s does not match its digest", h)
		}
	}
	return data, nil
}

const refName = "org.opencontainers.image.ref.name"

// layoutImage picks the image named tag (any, when the layout holds one)
// for the platform and returns it as a lazy v1.Image.
func layoutImage(b blobs, tag string, p *v1.Platform) (v1.Image, error) {
	raw, err := readAll(b, "index.json")
	if err != nil {
		return nil, fmt.Errorf("reading index.json: %w", err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("parsing index.json: %w", err)
	}
	var desc *v1.Descriptor
	for i, d := range idx.Manifests {
		n := d.Annotations[refName]
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
			return nil, fmt.Errorf("no image tagged %q", tag)
		}
		return nil, errors.New("it holds no image")
	}
	for depth := 0; desc.MediaType.IsIndex(); depth++ {
		if depth > 4 {
			return nil, errors.New("indexes nested too deep")
		}
		raw, err := readBlob(b, desc.Digest)
		if err != nil {
			return nil, err
		}
		var child v1.IndexManifest
		if err := json.Unmarshal(raw, &child); err != nil {
			return nil, fmt.Errorf("parsing index %s: %w", desc.Digest, err)
		}
		if desc, err = pickPlatform(&child, p); err != nil {
			return nil, err
		}
	}
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("unsupported manifest media type %q", desc.MediaType)
	}
	rawManifest, err := readBlob(b, desc.Digest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", desc.Digest, err)
	}
	return partial.CompressedToImage(&layoutCore{b: b, raw: rawManifest, m: m, mt: desc.MediaType})
}

func pickPlatform(idx *v1.IndexManifest, p *v1.Platform) (*v1.Descriptor, error) {
	d, err := image.PickManifest(idx, p, nil)
	if err != nil {
		return nil, fmt.Errorf("%w (use --platform)", err)
	}
	return &d, nil
}

type layoutCore struct {
	b   blobs
	raw []byte
	m   *v1.Manifest
	mt  types.MediaType
}

func (c *layoutCore) RawConfigFile() ([]byte, error)      { return readBlob(c.b, c.m.Config.Digest) }
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
	b    blobs
	desc v1.Descriptor
}

func (l *layoutLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *layoutLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *layoutLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

// Compressed streams the blob and checks it against its digest as it goes:
// the last Read fails when the bytes do not match, so a tampered layout is
// reported rather than analyzed. (The analysis reads every blob to its end.)
func (l *layoutLayer) Compressed() (io.ReadCloser, error) {
	name, err := blobName(l.desc.Digest)
	if err != nil {
		return nil, err
	}
	rc, err := l.b.open(name)
	if err != nil {
		return nil, err
	}
	if l.desc.Digest.Algorithm != "sha256" {
		return rc, nil
	}
	return &verifyingReader{rc: rc, h: sha256.New(), want: l.desc.Digest}, nil
}

type verifyingReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want v1.Hash
	done bool
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF && !v.done {
		v.done = true
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return n, fmt.Errorf("blob %s does not match its digest (got sha256:%s)", v.want, got)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.rc.Close() }
