package analyze

import (
	"archive/tar"
	"os"
	"sort"
	"strings"
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	// metaPrefix covers every AUFS meta entry (".wh..wh.plnk", opaque, ...):
	// dive never adds them to a tree, and neither do we.
	metaPrefix = ".wh..wh."
)

// FileInfo is what a tar header (and the file's content hash) says about one
// path. The zero value is dive's "implicit" parent directory: a path that only
// exists because a deeper entry named it.
type FileInfo struct {
	// Fields ordered largest first: a tree holds one per path.
	Linkname string      `json:"linkName,omitempty"`
	Size     int64       `json:"size"`
	Hash     uint64      `json:"-"` // xxhash64 of the content; regular files only
	UID      int         `json:"uid"`
	GID      int         `json:"gid"`
	Mode     os.FileMode `json:"fileMode"`
	Type     byte        `json:"typeFlag"`
	IsDir    bool        `json:"isDir"`
}

// same reports whether two infos describe the same file, as dive compares
// them: type, content hash, mode and owner.
func (f FileInfo) same(o FileInfo) bool {
	return f.Type == o.Type && f.Hash == o.Hash && f.Mode == o.Mode && f.UID == o.UID && f.GID == o.GID
}

// IsLink reports a symbolic or hard link.
func (f FileInfo) IsLink() bool { return f.Type == tar.TypeSymlink || f.Type == tar.TypeLink }

// Node is one path in a tree. In a layer tree a whiteout keeps its on-disk
// name (".wh.NAME"), as in dive, so the tree is exactly what the tar said.
type Node struct {
	Name     string
	Parent   *Node
	Info     FileInfo
	kids     map[string]*Node
	Explicit bool // the layer had an entry for this path (not just a parent of one)
}

func newRoot() *Node { return &Node{Info: FileInfo{IsDir: true, Type: tar.TypeDir}} }

// Child returns the named child or nil.
func (n *Node) Child(name string) *Node { return n.kids[name] }

// Len returns the number of children.
func (n *Node) Len() int { return len(n.kids) }

// IsLeaf reports a node without children.
func (n *Node) IsLeaf() bool { return len(n.kids) == 0 }

// IsWhiteout reports a ".wh.NAME" node.
func (n *Node) IsWhiteout() bool { return strings.HasPrefix(n.Name, whiteoutPrefix) }

// Children returns the children sorted by name (byte order, as dive sorts).
// The slice is made on each call: keeping it would cost every node 24 bytes
// for a list walked a few times.
func (n *Node) Children() []*Node {
	if len(n.kids) == 0 {
		return nil
	}
	out := make([]*Node, 0, len(n.kids))
	for _, c := range n.kids {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (n *Node) addChild(name string) *Node {
	if n.kids == nil {
		n.kids = make(map[string]*Node, 4)
	}
	c := &Node{Name: name, Parent: n}
	n.kids[name] = c
	return c
}

func (n *Node) removeChild(name string) {
	delete(n.kids, name)
}

// Path is the absolute path of the node; a whiteout's own ".wh." prefix is
// dropped so the path names the file it deletes.
func (n *Node) Path() string {
	if n.Parent == nil {
		return "/"
	}
	var parts []string
	for c := n; c.Parent != nil; c = c.Parent {
		name := c.Name
		if c == n {
			name = strings.TrimPrefix(name, whiteoutPrefix)
		}
		parts = append(parts, name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

// splitPath splits a cleaned path into its components, skipping empty ones.
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// addPath adds p under root the way dive's FileTree.AddPath does: missing
// parents appear as implicit nodes with a zero FileInfo, an existing node
// keeps its children and takes the new info, and nothing below an AUFS meta
// name is ever added. It returns the end node, or nil when nothing was added.
func addPath(root *Node, p string, info FileInfo, explicit bool) *Node {
	node := root
	parts := splitPath(p)
	for i, name := range parts {
		next := node.kids[name]
		if next == nil {
			if strings.HasPrefix(name, metaPrefix) {
				return nil
			}
			next = node.addChild(name)
		}
		node = next
		if i == len(parts)-1 {
			node.Info = info
			if explicit {
				node.Explicit = true
			}
		}
	}
	if node == root {
		return nil
	}
	return node
}

// lookup returns the node at p or nil.
func lookup(root *Node, p string) *Node {
	node := root
	for _, name := range splitPath(p) {
		node = node.kids[name]
		if node == nil {
			return nil
		}
	}
	return node
}

// removePath deletes the node at p with its subtree; false when absent.
func removePath(root *Node, p string) bool {
	n := lookup(root, p)
	if n == nil || n.Parent == nil {
		return false
	}
	n.Parent.removeChild(n.Name)
	return true
}

// copyTree deep-copies a tree.
func copyTree(n *Node, parent *Node) *Node {
	c := &Node{Name: n.Name, Parent: parent, Info: n.Info, Explicit: n.Explicit}
	if len(n.kids) > 0 {
		c.kids = make(map[string]*Node, len(n.kids))
		for name, k := range n.kids {
			c.kids[name] = copyTree(k, c)
		}
	}
	return c
}

// walkChildFirst visits every node under n (not n itself when it is a root)
// depth first, children in name order before their parent — dive's
// VisitDepthChildFirst. A non-nil error from visit stops the walk.
func walkChildFirst(n *Node, visit func(*Node) error) error {
	for _, c := range n.Children() {
		if err := walkChildFirst(c, visit); err != nil {
			return err
		}
	}
	if n.Parent == nil {
		return nil
	}
	return visit(n)
}

// subtreeSize sums the sizes of n and everything below it.
func subtreeSize(n *Node) int64 {
	s := n.Info.Size
	for _, c := range n.kids {
		s += subtreeSize(c)
	}
	return s
}
