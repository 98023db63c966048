package build

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// COPY --from without unpacking: the source stage's merged metadata (the
// fsTree of its layers) stands in for a directory, the copy is planned on
// it, and file contents are then streamed from the one layer that holds
// each file's final version. This saves writing and re-reading the whole
// source filesystem on disk.

// deferredFile is a regular file of the new layer whose content is still to
// be read from a source layer.
type deferredFile struct {
	hdr *tar.Header
	src string // path in the source stage
}

// treeSource makes a copySource from the merged tree of layers; ok is false
// when the tree has hard links (then the caller unpacks instead).
func treeSource(t *fsTree) (copySource, bool) {
	c := &contextFS{entries: map[string]*ctxEntry{}}
	c.once.Do(func() {}) // already "walked"
	owners := map[string][2]int{}
	for name, h := range t.m {
		if h.Typeflag == tar.TypeLink {
			return copySource{}, false
		}
		if name == "" {
			continue
		}
		c.entries[name] = &ctxEntry{rel: name, info: h.FileInfo(), link: h.Linkname}
		owners[name] = [2]int{h.Uid, h.Gid}
	}
	for p := range c.entries {
		c.paths = append(c.paths, p)
	}
	sort.Strings(c.paths)
	return copySource{fs: c, owners: owners, fromTree: true}, true
}

// streamDeferred writes the deferred files, reading each layer once,
// bottom first, and taking every file from the layer that provides it.
func (b *Builder) streamDeferred(ctx context.Context, lw *layerWriter, t *fsTree, layers []Layer, files []deferredFile) error {
	if len(files) == 0 {
		return nil
	}
	want := map[string][]*tar.Header{}
	for _, f := range files {
		want[f.src] = append(want[f.src], f.hdr)
	}
	left := len(want)
	for i, l := range layers {
		if left == 0 {
			break
		}
		needed := false
		for src := range want {
			if t.from[src] == i {
				needed = true
				break
			}
		}
		if !needed {
			continue
		}
		err := b.walkLayer(ctx, l, func(h *tar.Header, name string, r io.Reader) error {
			hdrs, ok := want[name]
			if !ok || t.from[name] != i || h.Typeflag != tar.TypeReg {
				return nil
			}
			if err := writeCopies(lw, hdrs, r, h.Size, b.tempDir()); err != nil {
				return err
			}
			delete(want, name)
			left--
			return nil
		})
		if err != nil {
			return err
		}
	}
	if left > 0 {
		var missing []string
		for k := range want {
			missing = append(missing, "/"+k)
		}
		sort.Strings(missing)
		return fmt.Errorf("source files not found in their layers: %s", strings.Join(missing, ", "))
	}
	return nil
}

// writeCopies writes one source file to one or more targets; with several,
// the content goes through a temp file since the stream is read once.
func writeCopies(lw *layerWriter, hdrs []*tar.Header, r io.Reader, size int64, tempDir string) error {
	if len(hdrs) == 1 {
		if err := lw.WriteHeader(hdrs[0]); err != nil {
			return err
		}
		_, err := io.CopyN(lw, r, size)
		return err
	}
	tmp, err := os.CreateTemp(tempDir, "copy-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.CopyN(tmp, r, size); err != nil {
		return err
	}
	for _, h := range hdrs {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := lw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.CopyN(lw, tmp, size); err != nil {
			return err
		}
	}
	return nil
}
