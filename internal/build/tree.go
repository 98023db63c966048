package build

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/berth-dev/berth/internal/archive"
)

// fsTree is the merged metadata view of a stack of layers: what COPY needs
// to know about the destination (existing directories and their owners) and
// the passwd/group files for --chown names. Content is not kept.
type fsTree struct {
	m      map[string]*tar.Header // cleaned path without leading "/"
	from   map[string]int         // index of the layer that provides each path
	passwd []byte
	group  []byte
}

type layerScan struct {
	hdrs   []*tar.Header
	passwd []byte
	group  []byte
}

// scanLayer reads a layer's headers once per build (cached by digest).
func (b *Builder) scanLayer(ctx context.Context, l Layer) (*layerScan, error) {
	if v, ok := b.scans.Load(l.DiffID); ok {
		return v.(*layerScan), nil
	}
	s := &layerScan{}
	err := b.walkLayer(ctx, l, func(h *tar.Header, name string, r io.Reader) error {
		h.Name = name
		s.hdrs = append(s.hdrs, h)
		if (name == "etc/passwd" || name == "etc/group") && h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
			data, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if name == "etc/passwd" {
				s.passwd = data
			} else {
				s.group = data
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.scans.Store(l.DiffID, s)
	return s, nil
}

// walkLayer reads a layer's tar once, in order, and calls fn for each entry
// with its cleaned name (entries that climb out are an error) and a reader
// of its content. It stops when ctx is done.
func (b *Builder) walkLayer(ctx context.Context, l Layer, fn func(h *tar.Header, name string, r io.Reader) error) error {
	rc, err := b.v1Layer(l).Uncompressed()
	if err != nil {
		return fmt.Errorf("reading layer %s: %w", l.Digest, err)
	}
	defer rc.Close()
	return archive.WalkTar(ctx, rc, fn, func(err error) error { return fmt.Errorf("reading layer %s: %w", l.Digest, err) })
}

func (b *Builder) treeOf(ctx context.Context, layers []Layer) (*fsTree, error) {
	t := &fsTree{m: map[string]*tar.Header{}, from: map[string]int{}}
	for i, l := range layers {
		s, err := b.scanLayer(ctx, l)
		if err != nil {
			return nil, err
		}
		t.apply(s.hdrs, i)
		if s.passwd != nil {
			t.passwd = s.passwd
		}
		if s.group != nil {
			t.group = s.group
		}
	}
	return t, nil
}

func (t *fsTree) apply(hdrs []*tar.Header, layer int) {
	for _, h := range hdrs {
		dir, base := path.Split(h.Name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			t.removeBelow(dir)
		case strings.HasPrefix(base, ".wh."):
			victim := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			delete(t.m, victim)
			t.removeBelow(victim)
		default:
			if old, ok := t.m[h.Name]; ok && old.Typeflag == tar.TypeDir && h.Typeflag != tar.TypeDir {
				t.removeBelow(h.Name)
			}
			t.m[h.Name] = h
			t.from[h.Name] = layer
		}
	}
}

func (t *fsTree) removeBelow(dir string) {
	prefix := dir + "/"
	if dir == "" || dir == "." {
		prefix = ""
	}
	for k := range t.m {
		if strings.HasPrefix(k, prefix) && k != dir {
			delete(t.m, k)
		}
	}
}

// resolve follows symlinks in p inside the image, as a path lookup would
// (/bin → usr/bin on merged-/usr images), so a COPY or WORKDIR writes
// through them instead of replacing them with a directory. The last
// component is followed only when it leads to a directory.
func (t *fsTree) resolve(p string) string { return t.resolveN(p, 0, false) }

// resolveDir resolves p as the directory it must be, following the last
// component too even where the link dangles (an unpack creates what it
// points at, as a path lookup with mkdir -p would).
func (t *fsTree) resolveDir(p string) string { return t.resolveN(p, 0, true) }

func (t *fsTree) resolveN(p string, depth int, dir bool) string {
	parts := splitPath(p)
	if depth > 40 {
		return strings.Join(parts, "/")
	}
	out := ""
	for i, hops := 0, 0; i < len(parts); i++ {
		cand := strings.TrimPrefix(out+"/"+parts[i], "/")
		h, ok := t.m[cand]
		if ok && h.Typeflag == tar.TypeSymlink && hops < 40 {
			base := out
			if path.IsAbs(h.Linkname) {
				base = ""
			}
			next := strings.TrimPrefix(path.Clean("/"+base+"/"+h.Linkname), "/")
			if i == len(parts)-1 && !dir && !t.isDirNoFollow(t.resolveN(next, depth+1, false)) {
				return cand // a link to a file (or nothing): the link itself
			}
			parts = append(splitPath(next), parts[i+1:]...)
			out, i = "", -1
			hops++
			continue
		}
		out = cand
	}
	return out
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

func (t *fsTree) isDirNoFollow(p string) bool {
	if p == "" {
		return true
	}
	h, ok := t.m[p]
	return ok && h.Typeflag == tar.TypeDir
}

func (t *fsTree) isDir(p string) bool { return t.isDirNoFollow(t.resolve(p)) }

// extractLayers unpacks layers (bottom first) into dir, applying whiteouts,
// for COPY --from. Every operation goes through an os.Root of dir (see
// archive.Unpack): no ".." or absolute escapes, no writing through symlinks, no
// link followed out of dir. It returns the owner of every entry.
func (b *Builder) extractLayers(ctx context.Context, layers []Layer, dir string) (map[string][2]int, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	u := archive.NewUnpacker(root, false)
	owners := map[string][2]int{}
	for _, l := range layers {
		if err := b.extractOne(ctx, l, u, owners); err != nil {
			return nil, err
		}
	}
	return owners, nil
}

func (b *Builder) extractOne(ctx context.Context, l Layer, u *archive.Unpacker, owners map[string][2]int) error {
	return b.walkLayer(ctx, l, func(h *tar.Header, name string, r io.Reader) error {
		if name == "" {
			return nil
		}
		dirName, base := path.Split(name)
		dirName = strings.TrimSuffix(dirName, "/")
		if base == ".wh..wh..opq" || strings.HasPrefix(base, ".wh.") {
			if err := u.Parents(name); err != nil {
				return err
			}
			if base != ".wh..wh..opq" {
				return u.Root().RemoveAll(path.Join(dirName, strings.TrimPrefix(base, ".wh.")))
			}
			if dirName == "" {
				dirName = "."
			}
			d, err := u.Root().Open(dirName)
			if err != nil {
				return nil // nothing below to hide
			}
			ents, _ := d.ReadDir(-1)
			d.Close()
			for _, e := range ents {
				if err := u.Root().RemoveAll(path.Join(dirName, e.Name())); err != nil {
					return err
				}
			}
			return nil
		}
		made, err := u.Entry(h, name, r)
		if err == nil && made {
			owners[name] = [2]int{h.Uid, h.Gid}
		}
		return err
	})
}
