package tui

import (
	"bytes"
	"regexp"
	"sort"
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
	bySize    bool // largest first instead of by name (dive's ctrl+o)
}

// children returns n's children in the order the view shows them.
func (st *treeState) children(n *analyze.ViewNode) []*analyze.ViewNode {
	if !st.bySize || len(n.Children) < 2 {
		return n.Children
	}
	out := append([]*analyze.ViewNode(nil), n.Children...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Size > out[j].Size })
	return out
}

// matcher returns a path test for the filter: a plain substring search when
// it has no regular-expression syntax (the common case, and much faster),
// else the regular expression, else the substring again.
func matcher(f string) func([]byte) bool {
	if f == "" {
		return nil
	}
	if regexp.QuoteMeta(f) != f {
		if re, err := regexp.Compile(f); err == nil {
			return re.Match
		}
	}
	b := []byte(f)
	return func(p []byte) bool { return bytes.Contains(p, b) }
}

// flatten lists the visible rows of the tree in one pass. With a filter, a
// directory is shown when its path or something below it matches: its row
// is added on the way down and taken back on the way up when nothing under
// it was kept, so no set of matches is ever built.
func flatten(root *analyze.ViewNode, st *treeState) []row {
	match := matcher(st.filter)
	rows := make([]row, 0, 1024)
	buf := make([]byte, 0, 256) // the current path, grown and cut back
	// anyMatch reports a match at or below n without adding rows (for
	// folded directories).
	var anyMatch func(n *analyze.ViewNode) bool
	anyMatch = func(n *analyze.ViewNode) bool {
		if match(buf) {
			return true
		}
		for _, c := range n.Children {
			if st.hide[c.Diff] {
				continue
			}
			l := len(buf)
			buf = append(append(buf, '/'), c.Name...)
			hit := anyMatch(c)
			buf = buf[:l]
			if hit {
				return true
			}
		}
		return false
	}
	// walk adds n's visible children below row parent and reports whether
	// it kept any.
	var walk func(n *analyze.ViewNode, parent int32) bool
	walk = func(n *analyze.ViewNode, parent int32) bool {
		lastKept := -1
		for _, c := range st.children(n) {
			if st.hide[c.Diff] {
				continue
			}
			l := len(buf)
			buf = append(append(buf, '/'), c.Name...)
			folded := len(c.Children) > 0 && len(st.collapsed) > 0 && st.collapsed[string(buf)]
			at := len(rows)
			rows = append(rows, row{node: c, parent: parent, collapsed: folded})
			keep := true
			if len(c.Children) > 0 && !folded {
				below := walk(c, int32(at))
				keep = below || match == nil || match(buf)
			} else if match != nil {
				if folded {
					keep = anyMatch(c)
				} else {
					keep = match(buf)
				}
			}
			buf = buf[:l]
			if !keep {
				rows = rows[:at]
				continue
			}
			lastKept = at
		}
		if lastKept >= 0 {
			rows[lastKept].last = true
		}
		return lastKept >= 0
	}
	walk(root, -1)
	return rows
}
