package analyze

import (
	"archive/tar"
	"sort"
)

// Diff says how a path changed in the layers a view looks at.
type Diff uint8

const (
	Unmodified Diff = iota
	Added
	Modified
	Removed
)

func (d Diff) String() string {
	switch d {
	case Added:
		return "added"
	case Modified:
		return "modified"
	case Removed:
		return "removed"
	}
	return "unmodified"
}

// MarshalText makes Diff read as a word in JSON.
func (d Diff) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ViewNode is one path of the image filesystem as of some layer, with how
// the layers in view changed it. Removed paths stay in the tree, marked, so
// that a viewer can show what was deleted.
type ViewNode struct {
	Name     string
	Parent   *ViewNode
	Info     FileInfo
	Children []*ViewNode
	Size     int64 // a directory's size is that of what it still contains
	Layer    int32 // the layer that last wrote this path
	Diff     Diff

	base bool // present before the marked range began
	kids map[string]*ViewNode
}

// Path returns the node's absolute path.
func (v *ViewNode) Path() string {
	if v.Parent == nil {
		return "/"
	}
	if v.Parent.Parent == nil {
		return "/" + v.Name
	}
	return v.Parent.Path() + "/" + v.Name
}

// IsDir reports a directory (explicit or implied by its children).
func (v *ViewNode) IsDir() bool { return v.Info.IsDir || len(v.kids) > 0 }

// Tree returns the filesystem as of layer top with whiteouts and opaque
// directories applied. Changes are marked relative to the layer below top
// when aggregated is false (what layer top did), and relative to the first
// layer when it is true (what every layer above the base did), as dive's
// "compare layer" and "compare all" modes do. The first layer is compared
// with itself, as in dive: nothing is marked.
func (r *Report) Tree(top int, aggregated bool) *ViewNode {
	if top < 0 || top >= len(r.Layers) {
		top = len(r.Layers) - 1
	}
	lo := top
	if aggregated && top > 0 {
		lo = 1
	}
	if top == 0 {
		lo = 1
	}
	v := buildView(r.Layers, top, lo, nil)
	sortView(v)
	return v
}

// removal describes a path a layer deleted (by whiteout or opaque
// directory) together with what the lower layers held there.
type removal struct {
	node  *ViewNode
	layer int
	size  int64 // bytes the lower layers hold under the path
}

func liveSize(v *ViewNode) int64 {
	if v.Diff == Removed {
		return 0
	}
	s := v.Info.Size
	for _, c := range v.kids {
		s += liveSize(c)
	}
	return s
}

// buildView stacks layers 0..top, marking the changes of layers lo..top.
// onRemove, when set, sees every existing path a layer deletes.
func buildView(layers []*Layer, top, lo int, onRemove func(removal)) *ViewNode {
	root := &ViewNode{Info: FileInfo{IsDir: true, Type: tar.TypeDir}, base: true}
	for i := 0; i <= top && i < len(layers); i++ {
		mark := i >= lo
		l := layers[i]
		drop := func(v *ViewNode) {
			if v == nil || v.Parent == nil {
				return
			}
			if onRemove != nil {
				onRemove(removal{node: v, layer: i, size: liveSize(v)})
			}
			if mark && v.base {
				markRemoved(v)
				return
			}
			delete(v.Parent.kids, v.Name)
		}
		// Whiteouts and opaque directories hide lower layers only, so they
		// go first; the layer's own entries are added after.
		for _, dir := range l.Opaque {
			if d := viewLookup(root, dir); d != nil {
				for _, c := range sortedKids(d) {
					drop(c)
				}
			}
		}
		for _, p := range l.whiteouts {
			drop(viewLookup(root, p))
		}
		addLayer(root, l.Root, i, mark)
	}
	finishView(root)
	return root
}

func addLayer(vp *ViewNode, ln *Node, idx int, mark bool) {
	for name, c := range ln.kids {
		if c.IsWhiteout() {
			continue
		}
		v := vp.kids[name]
		if v == nil {
			if vp.kids == nil {
				vp.kids = make(map[string]*ViewNode, len(ln.kids))
			}
			v = &ViewNode{Name: name, Parent: vp, Layer: int32(idx), base: !mark}
			v.Info = c.Info
			if !c.Explicit {
				v.Info = FileInfo{IsDir: true, Type: tar.TypeDir, Mode: 0o755 | 1<<31}
			}
			if mark {
				v.Diff = Added
			}
			vp.kids[name] = v
		} else if c.Explicit {
			if mark {
				switch {
				case v.Diff == Removed:
					v.Diff = Modified
				case v.base && v.Diff == Unmodified && !v.Info.same(c.Info):
					v.Diff = Modified
				}
			}
			if !v.Info.same(c.Info) || v.Info.Size != c.Info.Size {
				v.Layer = int32(idx)
			}
			// A file (or link) put where a directory was hides what the
			// directory held below.
			if !c.Info.IsDir && len(v.kids) > 0 {
				for _, k := range v.kids {
					if mark && k.base {
						markRemoved(k)
					} else {
						delete(v.kids, k.Name)
					}
				}
			}
			v.Info = c.Info
		} else if v.Diff == Removed && mark {
			v.Diff = Modified
		}
		if len(c.kids) > 0 {
			addLayer(v, c, idx, mark)
		}
	}
}

func markRemoved(v *ViewNode) {
	v.Diff = Removed
	for _, c := range v.kids {
		markRemoved(c)
	}
}

func viewLookup(root *ViewNode, p string) *ViewNode {
	v := root
	for _, name := range splitPath(p) {
		v = v.kids[name]
		if v == nil {
			return nil
		}
	}
	return v
}

func sortedKids(v *ViewNode) []*ViewNode {
	out := make([]*ViewNode, 0, len(v.kids))
	for _, c := range v.kids {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// finishView sorts children, sums directory sizes and marks a directory
// modified when something under it changed.
func finishView(v *ViewNode) {
	if len(v.kids) == 0 {
		if !v.Info.IsDir {
			v.Size = v.Info.Size
		}
		return
	}
	changed := false
	var size int64
	for _, c := range v.kids {
		finishView(c)
		if c.Diff != Unmodified {
			changed = true
		}
		if c.Diff != Removed || v.Diff == Removed {
			size += c.Size
		}
	}
	v.Size = size + v.Info.Size
	if changed && v.Diff == Unmodified && v.Parent != nil {
		v.Diff = Modified
	}
}

// sortView fills Children, sorted by name, for viewers.
func sortView(v *ViewNode) {
	if len(v.kids) == 0 {
		return
	}
	v.Children = sortedKids(v)
	for _, c := range v.Children {
		sortView(c)
	}
}

// Walk visits v and everything below it, parents first, children in name
// order (any order before sortView); returning false from fn skips a node's children.
func (v *ViewNode) Walk(fn func(*ViewNode) bool) {
	if !fn(v) {
		return
	}
	if v.Children == nil {
		for _, c := range v.kids {
			c.Walk(fn)
		}
		return
	}
	for _, c := range v.Children {
		c.Walk(fn)
	}
}
