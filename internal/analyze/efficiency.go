package analyze

import (
	"errors"
	"sort"
)

// Inefficiency is one path seen in more than one layer: dive's "inefficient
// file". Size is dive's cumulative size (every copy counted, the surviving
// one included); Reclaimable is what the lower layers hold that the final
// image no longer shows.
type Inefficiency struct {
	Path        string `json:"file"`
	Count       int    `json:"count"`
	Size        int64  `json:"sizeBytes"`
	Reclaimable int64  `json:"reclaimableBytes"`
	// Layers are the indexes of the layers that hold a copy (or delete it),
	// lowest first; Removed says the last of them deletes it.
	Layers  []int `json:"layers"`
	Removed bool  `json:"removed,omitempty"`

	minSize int64
	sizes   []int64
	infos   []FileInfo
}

type inefficiencies []*Inefficiency

func (s inefficiencies) Len() int           { return len(s) }
func (s inefficiencies) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
func (s inefficiencies) Less(i, j int) bool { return s[i].Size < s[j].Size }

var errMissingWhiteoutTarget = errors.New("whiteout of a path no lower layer has")

// efficiency computes dive's score and inefficient paths over the layer
// trees. It mirrors dive 0.13.1's algorithm step for step, quirks included,
// so the numbers match: only the leaves of each layer's tree count; a
// whiteout counts as 0 bytes unless it deletes a directory, then as that
// directory's whole size in the layers below; a whiteout of a path no lower
// layer has ends that layer's walk (dive returns the lookup error from its
// visitor) after recording the path with a minimum of -1; opaque markers are
// ignored. The returned slice is sorted largest first, in the order dive's
// CI report and JSON export list it.
func efficiency(layers []*Layer) (float64, []*Inefficiency) {
	if len(layers) == 0 {
		return 1, nil
	}
	// Most paths are seen once: keep those small and build the full record
	// only for a path's second sighting.
	type stat struct {
		size, min int64
		first     *Node
		layer     int
		full      *Inefficiency
	}
	byPath := make(map[string]*stat, 1024)
	var matches inefficiencies
	// stacked holds layers 0..i-1 stacked dive's way; for layer 0 dive looks
	// whiteouts up in a copy of layer 0 itself. Only whiteouts look in it, so
	// it is built only up to the last layer that has one.
	lastWhiteout := -1
	for i, l := range layers {
		if hasWhiteout(l.Root) {
			lastWhiteout = i
		}
	}
	var stacked *Node
	if lastWhiteout >= 0 {
		stacked = copyTree(layers[0].Root, nil)
	}
	for i, l := range layers {
		_ = walkLeaves(l.Root, func(n *Node, p string) error {
			d := byPath[p]
			if d == nil {
				d = &stat{min: -1}
				byPath[p] = d
			}
			var size int64
			if n.IsWhiteout() {
				prev := lookup(stacked, p)
				if prev == nil {
					return errMissingWhiteoutTarget
				}
				if prev.Info.IsDir {
					size = subtreeSize(prev)
				}
			} else {
				size = n.Info.Size
			}
			d.size += size
			if d.min < 0 || size < d.min {
				d.min = size
			}
			switch {
			case d.first == nil && d.full == nil:
				d.first, d.layer = n, i
			case d.full == nil:
				first := d.first
				d.full = &Inefficiency{Path: p, Count: 1, Layers: []int{d.layer}, sizes: []int64{d.size - size}, infos: []FileInfo{first.Info}}
				d.first = nil
				matches = append(matches, d.full)
				fallthrough
			default:
				in := d.full
				in.Count++
				in.Size = d.size
				in.minSize = d.min
				in.Layers = append(in.Layers, i)
				in.sizes = append(in.sizes, size)
				in.infos = append(in.infos, n.Info)
				in.Removed = n.IsWhiteout()
			}
			return nil
		})
		if i < lastWhiteout {
			stackDive(stacked, l.Root)
		} else {
			stacked = nil
		}
	}
	var minSum, sum int64
	for _, d := range byPath {
		minSum += d.min
		sum += d.size
	}
	score := 1.0
	if sum != 0 {
		score = float64(minSum) / float64(sum)
	}
	// dive sorts with sort.Sort (not stable) and reads the result backwards;
	// doing the same over the same input order gives the same order on ties.
	sort.Sort(matches)
	out := make([]*Inefficiency, len(matches))
	for i := range matches {
		d := matches[len(matches)-1-i]
		d.Reclaimable = d.Size
		if !d.Removed {
			d.Reclaimable -= d.sizes[len(d.sizes)-1]
		}
		out[i] = d
	}
	return score, out
}

// walkLeaves visits the leaves under root in dive's child-first name order
// with their paths (a whiteout's without its prefix), building each path
// once from its parent's. An error from visit ends the walk.
func walkLeaves(root *Node, visit func(n *Node, p string) error) error {
	var walk func(n *Node, p string) error
	walk = func(n *Node, p string) error {
		for _, c := range n.Children() {
			cp := p + "/" + c.Name
			if c.IsLeaf() {
				if c.IsWhiteout() {
					cp = p + "/" + c.Name[len(whiteoutPrefix):]
				}
				if err := visit(c, cp); err != nil {
					return err
				}
				continue
			}
			if err := walk(c, cp); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root, "")
}

func hasWhiteout(n *Node) bool {
	for _, c := range n.kids {
		if c.IsWhiteout() || hasWhiteout(c) {
			return true
		}
	}
	return false
}

// stackDive stacks upper onto lower as dive's FileTree.Stack does: in
// child-first order, a whiteout removes its path and every other node —
// implicit parents included — replaces the info at its path.
func stackDive(lower, upper *Node) {
	_ = walkChildFirst(upper, func(n *Node) error {
		if n.IsWhiteout() {
			removePath(lower, n.Path())
			return nil
		}
		addPath(lower, n.Path(), n.Info, n.Explicit)
		return nil
	})
}
