package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/dockerfile"
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
	c, owners, links := treeFS(t)
	if links {
		return copySource{}, false
	}
	return copySource{fs: c, owners: owners, fromTree: true}, true
}

// treeFS is the merged tree as a contextFS for matching sources (its files
// have no content on disk), with each path's owner; links says whether it
// has hard links.
func treeFS(t *fsTree) (c *contextFS, owners map[string][2]int, links bool) {
	c = &contextFS{entries: map[string]*ctxEntry{}}
	c.once.Do(func() {}) // already "walked"
	owners = map[string][2]int{}
	for name, h := range t.m {
		if h.Typeflag == tar.TypeLink {
			links = true
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
	return c, owners, links
}

// fromKey is the cache key part of a COPY --from (or a bind mount from) a
// stage or image: for an image its layers, which never change under a
// name's digest; for a stage the content of the paths srcs name, as
// BuildKit's contenthash keys it: names, types, modes, owners, sizes,
// content digests and link targets, mtimes left out. A stage's layers are
// not a stable key: a re-run step (--no-cache, --no-cache-filter, a
// changed ARG) writes the same bytes with new mtimes, and everything that
// copies from it would miss for nothing.
func (b *Builder) fromKey(ctx context.Context, from string, cur int, layers []Layer, srcs []string, excl *dockerfile.Ignore) (string, error) {
	if _, ok := b.plan.stageRef(from, b.stageNames(), cur); !ok {
		parts := make([]string, len(layers))
		for i, l := range layers {
			parts[i] = l.DiffID.String()
		}
		return strings.Join(parts, ","), nil
	}
	memo := b.fromKeyMemo(layers, srcs, excl)
	if data, err := os.ReadFile(memo); memo != "" && err == nil && strings.HasPrefix(string(data), "content:") {
		return string(data), nil
	}
	k, err := b.contentKey(ctx, layers, srcs, excl)
	if err == nil && memo != "" {
		_ = writeFileAtomic(memo, []byte(k)) // best effort: a lost memo is computed again
	}
	return k, err
}

// fromKeyMemo is where the content key of srcs in a stage's layers is
// kept between builds ("" without a state directory). The key depends only
// on the layers' content (their diffIDs), which of them come from a base
// image, and srcs and excl, so a no-change rebuild reads no layer for it;
// a re-run step that made new layers (new diffIDs) finds no memo and the
// content is read and keyed again. It lives under cache/, which
// builder prune --all removes.
func (b *Builder) fromKeyMemo(layers []Layer, srcs []string, excl *dockerfile.Ignore) string {
	if b.opts.StateDir == "" {
		return ""
	}
	parts := []string{"from-key-v1"}
	for _, l := range layers {
		_, base := b.baseLayers.Load(l.Digest)
		parts = append(parts, fmt.Sprintf("%s base=%v", l.DiffID, base))
	}
	parts = append(parts, "srcs")
	parts = append(parts, srcs...)
	if excl != nil {
		parts = append(parts, "exclude")
		parts = append(parts, excl.Patterns()...)
	}
	return filepath.Join(b.opts.StateDir, "cache", "from", chainKey(parts...)+".key")
}

// contentKey reads the content key fromKey describes from the layers.
func (b *Builder) contentKey(ctx context.Context, layers []Layer, srcs []string, excl *dockerfile.Ignore) (string, error) {
	t, err := b.treeOf(ctx, layers)
	if err != nil {
		return "", err
	}
	c, _, _ := treeFS(t)
	picked := map[string]*tar.Header{}
	for _, s := range srcs {
		ents, err := matchSources(c, s, excl)
		if err != nil {
			return "", err
		}
		for _, e := range ents {
			if h, ok := t.m[e.rel]; ok {
				picked[e.rel] = h
			}
		}
	}
	// Regular files hash their content; a hard link hashes its target's.
	want := map[string]bool{}
	for _, h := range picked {
		switch {
		case h.Typeflag == tar.TypeReg:
			want[h.Name] = true
		case h.Typeflag == tar.TypeLink:
			want[cleanLinkname(h.Linkname)] = true
		}
	}
	digests, err := b.fileDigests(ctx, t, layers, want)
	if err != nil {
		return "", err
	}
	files := map[string]string{}
	for name, h := range picked {
		var what string
		switch h.Typeflag {
		case tar.TypeReg:
			what = digests[name]
		case tar.TypeLink:
			target := cleanLinkname(h.Linkname)
			what = "=" + target + ":" + digests[target]
		default:
			what = h.Linkname + fmt.Sprintf(":%d:%d", h.Devmajor, h.Devminor)
		}
		xattrs := make([]string, 0, len(h.PAXRecords))
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				xattrs = append(xattrs, k+"="+v)
			}
		}
		sort.Strings(xattrs)
		files[name] = fmt.Sprintf("%c %o %d:%d %d %s %s", h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, what, strings.Join(xattrs, ","))
	}
	return "content:" + filesKey(files), nil
}

func cleanLinkname(s string) string { return strings.TrimPrefix(path.Clean("/"+s), "/") }

// fileDigests returns the sha256 of the content each wanted path has in
// the merged tree, reading only the layers that provide them (each file
// hashed once per build).
func (b *Builder) fileDigests(ctx context.Context, t *fsTree, layers []Layer, want map[string]bool) (map[string]string, error) {
	out := map[string]string{}
	byLayer := map[int]map[string]bool{}
	for name := range want {
		i, ok := t.from[name]
		if !ok {
			continue // a hard link whose target is gone: its name keys it
		}
		if _, base := b.baseLayers.Load(layers[i].Digest); base {
			// A base image's layer never changes under its diffID: the
			// name in it says what the content is without reading it.
			out[name] = "in:" + layers[i].DiffID.String()
			continue
		}
		if d, ok := b.digests.Load(layers[i].DiffID.String() + "\x00" + name); ok {
			out[name] = d.(string)
			continue
		}
		if byLayer[i] == nil {
			byLayer[i] = map[string]bool{}
		}
		byLayer[i][name] = true
	}
	for i, names := range byLayer {
		l := layers[i]
		err := b.walkLayer(ctx, l, func(h *tar.Header, name string, r io.Reader) error {
			if !names[name] || h.Typeflag != tar.TypeReg {
				return nil
			}
			hh := sha256.New()
			if _, err := io.Copy(hh, r); err != nil {
				return err
			}
			d := "sha256:" + hex.EncodeToString(hh.Sum(nil))
			out[name] = d
			b.digests.Store(l.DiffID.String()+"\x00"+name, d)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
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
