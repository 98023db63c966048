package tui

import (
	"regexp"
	"strings"

	"github.com/berth-dev/berth/internal/analyze"
)

// row is one visible line of the file tree. The branches drawn before the
// name are worked out from the parent rows when the row is drawn, so that
// flattening 100,000 rows builds no strings.
type row struct {
	node      *analyze.ViewNode
	parent    int32 // index of the parent's row, -1 at the top
	last      bool  // the last visible child of its parent
	collapsed bool  // a directory shown folded
}

// prefix draws the tree branches of rows[i].
func prefix(rows []row, i int) string {
	r := rows[i]
	var parts []string
	if r.last {
		parts = append(parts, "└── ")
	} else {
		parts = append(parts, "├── ")
	}
	for p := r.parent; p >= 0; p = rows[p].parent {
		if rows[p].last {
			parts = append(parts, "    ")
		} else {
			parts = append(parts, "│   ")
		}
	}
	var b strings.Builder
	for j := len(parts) - 1; j >= 0; j-- {
		b.WriteString(parts[j])
	}
	return b.String()
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
	var walk func(n *analyze.ViewNode, p string, parent int32)
	walk = func(n *analyze.ViewNode, p string, parent int32) {
		kids := n.Children[:0:0]
		for _, c := range n.Children {
			if st.hide[c.Diff] || (keep != nil && !keep[c]) {
				continue
			}
			kids = append(kids, c)
		}
		for i, c := range kids {
			folded := false
			cp := ""
			if len(c.Children) > 0 {
				if p == "/" {
					cp = "/" + c.Name
				} else {
					cp = p + "/" + c.Name
				}
				folded = len(st.collapsed) > 0 && st.collapsed[cp]
			}
			rows = append(rows, row{node: c, parent: parent, last: i == len(kids)-1, collapsed: folded})
			if len(c.Children) > 0 && !folded {
				walk(c, cp, int32(len(rows)-1))
			}
		}
	}
	walk(root, "/", -1)
	return rows
}
