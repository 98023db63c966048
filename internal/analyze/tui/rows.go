package tui

import (
	"regexp"
	"strings"

	"github.com/berth-dev/berth/internal/analyze"
)

// row is one visible line of the file tree.
type row struct {
	node      *analyze.ViewNode
	prefix    string // tree branches drawn before the name
	collapsed bool   // a directory shown folded
}

// treeState is what decides which rows are visible.
type treeState struct {
	collapsed map[string]bool // by path, so folding survives a layer change
	hide      [4]bool         // by analyze.Diff
	filter    string
}

// matcher returns a path test for the filter: a regular expression when it
// compiles, else a plain substring.
func matcher(f string) func(string) bool {
	if f == "" {
		return nil
	}
	if re, err := regexp.Compile(f); err == nil {
		return re.MatchString
	}
	return func(p string) bool { return strings.Contains(p, f) }
}

// flatten lists the visible rows of the tree. With a filter, a directory is
// shown when something below it matches.
func flatten(root *analyze.ViewNode, st *treeState) []row {
	match := matcher(st.filter)
	var keep map[*analyze.ViewNode]bool
	if match != nil {
		keep = map[*analyze.ViewNode]bool{}
		var mark func(n *analyze.ViewNode, p string) bool
		mark = func(n *analyze.ViewNode, p string) bool {
			hit := n.Parent != nil && match(p)
			for _, c := range n.Children {
				cp := p + "/" + c.Name
				if p == "/" {
					cp = "/" + c.Name
				}
				if mark(c, cp) {
					hit = true
				}
			}
			if hit {
				keep[n] = true
			}
			return hit
		}
		mark(root, "/")
	}
	rows := make([]row, 0, 1024)
	var walk func(n *analyze.ViewNode, p, prefix string)
	walk = func(n *analyze.ViewNode, p, prefix string) {
		kids := n.Children[:0:0]
		for _, c := range n.Children {
			if st.hide[c.Diff] || (keep != nil && !keep[c]) {
				continue
			}
			kids = append(kids, c)
		}
		for i, c := range kids {
			last := i == len(kids)-1
			branch, next := "├── ", "│   "
			if last {
				branch, next = "└── ", "    "
			}
			cp := p + "/" + c.Name
			if p == "/" {
				cp = "/" + c.Name
			}
			folded := st.collapsed[cp] && len(c.Children) > 0
			rows = append(rows, row{node: c, prefix: prefix + branch, collapsed: folded})
			if len(c.Children) > 0 && !folded {
				walk(c, cp, prefix+next)
			}
		}
	}
	walk(root, "/", "")
	return rows
}
