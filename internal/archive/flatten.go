package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Flatten streams the filesystem an image's layers stack up to as one
// tar (what `build --output type=tar|local` writes and `docker export` of a
// fresh container holds): each path once, in its topmost version, with
// whiteouts and opaque directories applied.
//
// Hard links are kept, and kept right: go-containerregistry's
// mutate.Extract writes a lower layer's link as it was, so a link whose
// target an upper layer replaced or deleted came out as a second name of
// the new file (or of nothing). Here such a link becomes the file it named
// in its own layer, and further links to that file become links to it.
func Flatten(ctx context.Context, img v1.Image) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(flatten(ctx, img, pw)) }()
	return pr
}

// flattener is the state of one top-down pass over the layers.
type flattener struct {
	tw *tar.Writer
	// seen holds each path an upper layer wrote or whited out; true when
	// it hides what lower layers have below it (a non-directory, a
	// whiteout), false for a directory.
	seen map[string]bool
	// opaque directories hide what lower layers have below them.
	opaque map[string]bool
}

func flatten(ctx context.Context, img v1.Image, w io.Writer) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	f := &flattener{tw: tar.NewWriter(w), seen: map[string]bool{}, opaque: map[string]bool{}}
	var later []*tar.Header // links to a target a lower layer provides
	for i := len(layers) - 1; i >= 0; i-- {
		l, err := f.layer(ctx, layers[i])
		if err != nil {
			return err
		}
		later = append(later, l...)
	}
	for _, h := range later {
		if err := f.tw.WriteHeader(h); err != nil {
			return err
		}
	}
	return f.tw.Close()
}

// hidden reports whether an upper layer hides name through one of its
// parents (a parent replaced by a non-directory, whited out, or opaque).
func (f *flattener) hidden(name string) bool {
	for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
		if f.seen[p] || f.opaque[p] {
			return true
		}
	}
	return false
}

func (f *flattener) shadowed(name string) bool {
	_, ok := f.seen[name]
	return ok || f.hidden(name)
}

// layer writes what one layer contributes; it returns the links whose
// target is in a lower layer, to write at the end.
func (f *flattener) layer(ctx context.Context, l v1.Layer) ([]*tar.Header, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	here := map[string]bool{} // paths this layer wrote
	var opaque []string
	var later []*tar.Header
	missing := map[string][]*tar.Header{} // shadowed target → links to it
	err = WalkTar(ctx, rc, func(h *tar.Header, name string, r io.Reader) error {
		if name == "" {
			return nil
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if base == ".wh..wh..opq" {
			// Entries of this layer under dir stay: mark it after.
			opaque = append(opaque, dir)
			return nil
		}
		tomb := strings.HasPrefix(base, ".wh.")
		if tomb {
			name = path.Join(dir, strings.TrimPrefix(base, ".wh."))
		}
		if _, ok := f.seen[name]; ok || f.hidden(name) {
			return nil
		}
		f.seen[name] = tomb || h.Typeflag != tar.TypeDir
		if tomb {
			return nil
		}
		out := *h
		out.Name = name
		if h.Typeflag == tar.TypeDir {
			out.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			target, err := fsutil.CleanTarName(h.Linkname)
			if err != nil {
				return err
			}
			out.Linkname = target
			switch {
			case here[target]:
			case f.shadowed(target):
				missing[target] = append(missing[target], &out)
				return nil
			default:
				later = append(later, &out) // after the layer with the target
				return nil
			}
		}
		if err := f.tw.WriteHeader(&out); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(f.tw, r); err != nil {
				return err
			}
		}
		here[name] = true
		return nil
	}, func(err error) error { return err })
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		if err := f.relink(ctx, l, missing); err != nil {
			return nil, err
		}
	}
	for _, d := range opaque {
		f.opaque[d] = true
	}
	return later, nil
}

// relink writes the links of a layer whose target an upper layer replaced
// or removed: the first as the file the target was in this layer, the
// others as links to it. It reads the layer a second time, which only
// such layers pay.
func (f *flattener) relink(ctx context.Context, l v1.Layer, missing map[string][]*tar.Header) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	err = WalkTar(ctx, rc, func(h *tar.Header, name string, r io.Reader) error {
		links, ok := missing[name]
		if !ok || h.Typeflag != tar.TypeReg {
			return nil
		}
		delete(missing, name)
		// A hard link's metadata is its inode's: the target entry's.
		first := *h
		first.Name = links[0].Name
		if err := f.tw.WriteHeader(&first); err != nil {
			return err
		}
		if _, err := io.Copy(f.tw, r); err != nil {
			return err
		}
		for _, ln := range links[1:] {
			ln.Linkname = first.Name
			if err := f.tw.WriteHeader(ln); err != nil {
				return err
			}
		}
		return nil
	}, func(err error) error { return err })
	if err != nil {
		return err
	}
	for target := range missing {
		return fmt.Errorf("flattening layer: hard link to %q, which the layer does not hold", target)
	}
	return nil
}
