package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// squash is docker build --squash: the layers the build added on top of
// its base image become one layer, whiteouts and opaque directories
// applied between them and kept against the base. The base is the FROM
// image whose layers are the longest prefix of the result's. The history
// keeps every step, marked empty, plus the merged layer's entry, as
// Docker's squash writes it.
func squash(ctx context.Context, res *Result, bases []v1.Image, blobs BlobStore, epoch *time.Time) error {
	cf, err := res.Image.ConfigFile()
	if err != nil {
		return err
	}
	layers, err := res.Image.Layers()
	if err != nil {
		return err
	}
	var base v1.Image
	n := 0
	for _, b := range bases {
		bc, err := b.ConfigFile()
		if err != nil || len(bc.RootFS.DiffIDs) > len(cf.RootFS.DiffIDs) || len(bc.RootFS.DiffIDs) < n || (base != nil && len(bc.RootFS.DiffIDs) == n) {
			continue
		}
		prefix := true
		for i, d := range bc.RootFS.DiffIDs {
			prefix = prefix && cf.RootFS.DiffIDs[i] == d
		}
		if prefix {
			base, n = b, len(bc.RootFS.DiffIDs)
		}
	}
	if base == nil || len(layers)-n < 2 {
		return nil // nothing to merge (FROM scratch keeps its layers too)
	}
	added := layers[n:]
	keep, extra, err := squashPlan(added)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	done := make(chan putResult, 1)
	go func() {
		h, size, err := blobs.PutBlob(ctx, v1.Hash{}, pr)
		pr.CloseWithError(err)
		done <- putResult{h, size, err}
	}()
	gz := gzip.NewWriter(pw)
	tw := tar.NewWriter(gz)
	werr := squashWrite(tw, added, keep, extra)
	if werr == nil {
		werr = tw.Close()
	}
	if werr == nil {
		werr = gz.Close()
	}
	pw.CloseWithError(werr)
	put := <-done
	if werr != nil {
		return werr
	}
	if put.err != nil {
		return fmt.Errorf("storing the squashed layer: %w", put.err)
	}
	digest := put.h
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return blobs.OpenBlob(digest) }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return err
	}
	ncf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	bc, _ := base.ConfigFile()
	out := cf.DeepCopy()
	out.RootFS = ncf.RootFS
	for i := len(bc.History); i < len(out.History); i++ {
		out.History[i].EmptyLayer = true
	}
	created := time.Now().UTC()
	if epoch != nil {
		created = *epoch
	}
	out.History = append(out.History, v1.History{Created: v1.Time{Time: created}, Comment: fmt.Sprintf("merge %d layers to %s", len(added), ncf.RootFS.DiffIDs[n-1])})
	img, err = mutate.ConfigFile(img, out)
	if err != nil {
		return err
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cfgDesc, err := putBytes(ctx, blobs, rawCfg, types.OCIConfigJSON)
	if err != nil {
		return err
	}
	m, err := res.Image.Manifest()
	if err != nil {
		return err
	}
	ld := v1.Descriptor{MediaType: types.OCILayer, Digest: digest, Size: put.size}
	mb, err := image.MarshalManifest(cfgDesc, append(append([]v1.Descriptor{}, m.Layers[:n]...), ld), m.Annotations)
	if err != nil {
		return err
	}
	desc, err := putBytes(ctx, blobs, mb.Bytes, mb.Descriptor.MediaType)
	if err != nil {
		return err
	}
	res.Image, res.Manifest, res.ID = img, desc, cfgDesc.Digest
	return nil
}

// entryKey is one tar entry: layer index, entry index.
type entryKey struct{ layer, entry int }

// squashPlan reads the headers of layers (bottom first) and returns the
// entries that survive the layers above them, and the opaque markers to
// add (a directory deleted and made again must hide the base's content).
func squashPlan(layers []v1.Layer) (map[entryKey]bool, []string, error) {
	live := map[string]entryKey{} // path → entry that wrote it last
	keep := map[entryKey]bool{}
	whited := map[string]bool{} // paths deleted by a whiteout kept for the base
	dirs := map[string]bool{}   // paths last written as directories
	drop := func(p string, below int) {
		for q, k := range live {
			if (q == p || strings.HasPrefix(q, p+"/")) && k.layer < below+1 {
				delete(keep, k)
				delete(live, q)
			}
		}
	}
	err := eachEntry(layers, func(k entryKey, h *tar.Header, _ io.Reader) error {
		name, err := fsutil.CleanTarName(h.Name)
		if err != nil || name == "" {
			return nil
		}
		li := k.layer
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			// Hides what lower layers have under dir: earlier added
			// layers' entries go; the marker stays for the base.
			for q, e := range live {
				if strings.HasPrefix(q, dir+"/") && e.layer < li {
					delete(keep, e)
					delete(live, q)
				}
			}
			keep[k] = true
		case strings.HasPrefix(base, ".wh."):
			target := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			drop(target, li)
			whited[target] = true
			live[name] = k
			keep[k] = true
		default:
			if old, ok := live[name]; ok {
				delete(keep, old)
			}
			if wh, ok := live[path.Join(dir, ".wh."+base)]; ok {
				delete(keep, wh) // made again: the whiteout is moot
			}
			live[name] = k
			keep[k] = true
			dirs[name] = h.Typeflag == tar.TypeDir
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading a layer to squash: %w", err)
	}
	var extra []string
	for p := range whited {
		if k, ok := live[p]; ok && keep[k] && dirs[p] {
			extra = append(extra, p+"/.wh..wh..opq")
		}
	}
	return keep, extra, nil
}

// squashWrite copies the surviving entries, layer by layer, then the
// opaque markers of directories made again.
func squashWrite(tw *tar.Writer, layers []v1.Layer, keep map[entryKey]bool, extra []string) error {
	err := eachEntry(layers, func(k entryKey, h *tar.Header, r io.Reader) error {
		if !keep[k] {
			return nil
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range extra {
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
			return err
		}
	}
	return nil
}

// eachEntry calls fn for every entry of layers, bottom first, with the
// entry's data to read; the plan and the write number entries alike.
func eachEntry(layers []v1.Layer, fn func(k entryKey, h *tar.Header, r io.Reader) error) error {
	for li, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		tr := tar.NewReader(rc)
		for ei := 0; ; ei++ {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil {
				err = fn(entryKey{li, ei}, h, tr)
			}
			if err != nil {
				rc.Close()
				return err
			}
		}
		if err := rc.Close(); err != nil {
			return err
		}
	}
	return nil
}
