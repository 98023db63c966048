package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/dustin/go-humanize"

	"github.com/berth-dev/berth/internal/analyze"
)

const (
	paneLayers = iota
	paneTree
)

// Model is the interactive view's state. It is exported so tests can drive
// it with key presses and read the screen.
type Model struct {
	rep        *analyze.Report
	width      int
	height     int
	focus      int
	layer      int
	aggregated bool
	showAttrs  bool
	filtering  bool

	tree      *analyze.ViewNode
	treeKey   [2]int
	st        treeState
	rows      []row
	cursor    int
	offset    int
	layerOff  int
	quitting  bool
	allFolded bool
}

// New returns the view of rep, showing the first layer.
func New(rep *analyze.Report) *Model {
	m := &Model{rep: rep, width: 120, height: 40, showAttrs: true, treeKey: [2]int{-1, -1}}
	m.st.collapsed = map[string]bool{}
	m.rebuild()
	return m
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// rebuild recomputes the tree when the layer or mode changed and the rows
// when anything that decides visibility changed.
func (m *Model) rebuild() {
	key := [2]int{m.layer, 0}
	if m.aggregated {
		key[1] = 1
	}
	if key != m.treeKey {
		m.tree = m.rep.Tree(m.layer, m.aggregated)
		m.treeKey = key
	}
	m.rows = flatten(m.tree, &m.st)
	if m.cursor >= len(m.rows) {
		m.cursor = len(m.rows) - 1
	}
	if m.cursor < 0 {
		m.cursor = 0
	}
	m.clampOffset()
}

func (m *Model) treeHeight() int {
	h := m.height - 4 // title, column header, filter line, status bar
	if h < 1 {
		h = 1
	}
	return h
}

func (m *Model) clampOffset() {
	h := m.treeHeight()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
	if m.offset < 0 {
		m.offset = 0
	}
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clampOffset()
	case tea.KeyPressMsg:
		return m, m.key(msg.String())
	}
	return m, nil
}

func (m *Model) key(k string) tea.Cmd {
	if m.filtering {
		switch k {
		case "esc":
			m.filtering = false
			m.st.filter = ""
			m.rebuild()
		case "enter", "tab":
			m.filtering = false
			m.focus = paneTree
		case "backspace":
			if r := []rune(m.st.filter); len(r) > 0 {
				m.st.filter = string(r[:len(r)-1])
				m.rebuild()
			}
		case "ctrl+c":
			m.quitting = true
			return tea.Quit
		default:
			if k == "space" {
				k = " "
			}
			if len([]rune(k)) == 1 {
				m.st.filter += k
				m.cursor, m.offset = 0, 0
				m.rebuild()
			}
		}
		return nil
	}
	switch k {
	case "q", "ctrl+c":
		m.quitting = true
		return tea.Quit
	case "tab":
		m.focus = 1 - m.focus
		return nil
	case "ctrl+f", "/", "ctrl+/", "ctrl+_":
		m.filtering = true
		return nil
	case "esc":
		if m.st.filter != "" {
			m.st.filter = ""
			m.rebuild()
		}
		return nil
	case "ctrl+l":
		m.aggregated = false
		m.rebuild()
		return nil
	}
	if m.focus == paneLayers {
		switch k {
		case "up", "k":
			m.selectLayer(m.layer - 1)
		case "down", "j":
			m.selectLayer(m.layer + 1)
		case "pgup", "u":
			m.selectLayer(m.layer - m.layerRows())
		case "pgdown", "d":
			m.selectLayer(m.layer + m.layerRows())
		case "home", "g":
			m.selectLayer(0)
		case "end", "G":
			m.selectLayer(len(m.rep.Layers) - 1)
		case "ctrl+a":
			m.aggregated = true
			m.rebuild()
		case "right", "l":
			m.focus = paneTree
		}
		return nil
	}
	switch k {
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "pgup", "u":
		m.move(-m.treeHeight())
	case "pgdown", "d":
		m.move(m.treeHeight())
	case "home", "g":
		m.move(-len(m.rows))
	case "end", "G":
		m.move(len(m.rows))
	case "space", "enter":
		m.toggleCollapse()
	case "ctrl+space", "ctrl+@":
		m.toggleCollapseAll()
	case "left", "h":
		m.collapseOrParent()
	case "right", "l":
		m.expand()
	case "ctrl+a":
		m.toggleHide(analyze.Added)
	case "ctrl+r":
		m.toggleHide(analyze.Removed)
	case "ctrl+m", "ctrl+e":
		m.toggleHide(analyze.Modified)
	case "ctrl+u":
		m.toggleHide(analyze.Unmodified)
	case "ctrl+b":
		m.showAttrs = !m.showAttrs
	case "ctrl+o":
		m.st.bySize = !m.st.bySize
		m.rebuild()
	}
	return nil
}

func (m *Model) layerRows() int {
	n := m.height / 2
	if n < 3 {
		n = 3
	}
	return n
}

func (m *Model) selectLayer(i int) {
	if i < 0 {
		i = 0
	}
	if i >= len(m.rep.Layers) {
		i = len(m.rep.Layers) - 1
	}
	if i == m.layer {
		return
	}
	m.layer = i
	m.rebuild()
}

func (m *Model) move(d int) {
	m.cursor += d
	if m.cursor >= len(m.rows) {
		m.cursor = len(m.rows) - 1
	}
	if m.cursor < 0 {
		m.cursor = 0
	}
	m.clampOffset()
}

func (m *Model) current() *row {
	if m.cursor < 0 || m.cursor >= len(m.rows) {
		return nil
	}
	return &m.rows[m.cursor]
}

func (m *Model) toggleCollapse() {
	r := m.current()
	if r == nil || len(r.node.Children) == 0 {
		return
	}
	p := r.node.Path()
	m.st.collapsed[p] = !m.st.collapsed[p]
	m.rebuild()
}

// toggleCollapseAll folds every directory, or unfolds them all, in turn.
func (m *Model) toggleCollapseAll() {
	m.allFolded = !m.allFolded
	if !m.allFolded {
		m.st.collapsed = map[string]bool{}
	} else {
		m.tree.Walk(func(v *analyze.ViewNode) bool {
			if v.Parent != nil && len(v.Children) > 0 {
				m.st.collapsed[v.Path()] = true
			}
			return true
		})
	}
	m.cursor = 0
	m.rebuild()
}

func (m *Model) collapseOrParent() {
	r := m.current()
	if r == nil {
		return
	}
	if len(r.node.Children) > 0 && !r.collapsed {
		m.toggleCollapse()
		return
	}
	for i := m.cursor - 1; i >= 0; i-- {
		if m.rows[i].node == r.node.Parent {
			m.cursor = i
			m.clampOffset()
			return
		}
	}
}

func (m *Model) expand() {
	if r := m.current(); r != nil && r.collapsed {
		m.toggleCollapse()
	}
}

func (m *Model) toggleHide(d analyze.Diff) {
	m.st.hide[d] = !m.st.hide[d]
	m.rebuild()
}

// ANSI colours of the change kinds, as dive shows them.
var diffColor = [...]string{analyze.Unmodified: "", analyze.Added: "\x1b[32m", analyze.Modified: "\x1b[33m", analyze.Removed: "\x1b[31m"}

const (
	reverse = "\x1b[7m"
	bold    = "\x1b[1m"
	reset   = "\x1b[0m"
)

// View implements tea.Model.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Screen())
	v.AltScreen = true
	return v
}

// Screen renders the whole screen as text with ANSI colours.
func (m *Model) Screen() string {
	if m.quitting {
		return ""
	}
	leftW := m.width * 2 / 5
	if leftW < 30 {
		leftW = 30
	}
	rightW := m.width - leftW - 1
	if rightW < 20 {
		rightW = 20
	}
	body := m.height - 1
	left := m.leftPane(leftW, body)
	right := m.treePane(rightW, body)
	var b strings.Builder
	for i := 0; i < body; i++ {
		b.WriteString(fit(left[i], leftW))
		b.WriteString("│")
		b.WriteString(fit(right[i], rightW))
		b.WriteByte('\n')
	}
	b.WriteString(fit(m.statusBar(), m.width))
	return b.String()
}

// fit truncates or pads a styled line to exactly w cells.
func fit(s string, w int) string {
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "")
	}
	if pad := w - ansi.StringWidth(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

func title(s string, focused bool) string {
	if focused {
		return bold + reverse + "┃ " + s + " " + reset
	}
	return bold + "┃ " + s + reset
}

func (m *Model) leftPane(w, h int) []string {
	lines := make([]string, 0, h)
	mode := "Layer"
	if m.aggregated {
		mode = "Aggregated"
	}
	lines = append(lines, title("Layers", m.focus == paneLayers)+"  ("+mode+" changes)")
	lines = append(lines, fmt.Sprintf("%-4s %9s  %s", "Cmp", "Size", "Command"))
	n := m.layerRows() - 2
	if n > len(m.rep.Layers) {
		n = len(m.rep.Layers)
	}
	if m.layer < m.layerOff {
		m.layerOff = m.layer
	}
	if m.layer >= m.layerOff+n {
		m.layerOff = m.layer - n + 1
	}
	for i := m.layerOff; i < m.layerOff+n && i < len(m.rep.Layers); i++ {
		l := m.rep.Layers[i]
		cmp := "    "
		switch {
		case i == m.layer:
			cmp = " ■  "
		case m.aggregated && i >= 1 && i < m.layer:
			cmp = " ▪  "
		}
		line := fmt.Sprintf("%s %9s  %s", cmp, humanize.Bytes(uint64(l.Size)), oneLine(l.Command))
		if i == m.layer {
			line = reverse + fit(line, w) + reset
		}
		lines = append(lines, line)
	}
	if len(m.rep.Layers) == 0 {
		lines = append(lines, "", "This image has no layers.")
		for len(lines) < h {
			lines = append(lines, "")
		}
		return lines[:h]
	}
	l := m.rep.Layers[m.layer]
	lines = append(lines, "", title("Layer Details", false))
	lines = append(lines, fmt.Sprintf("Index:   %d of %d", m.layer+1, len(m.rep.Layers)))
	if l.Digest != "" {
		lines = append(lines, "Digest:  "+l.Digest)
	}
	lines = append(lines, "DiffID:  "+l.DiffID)
	lines = append(lines, fmt.Sprintf("Files:   %d", l.Files))
	lines = append(lines, "Command: "+oneLine(l.CreatedBy))
	for _, wmsg := range l.Warnings {
		lines = append(lines, "\x1b[31mWarning: "+analyze.Printable(wmsg)+reset)
	}
	r := m.rep
	lines = append(lines, "", title("Image Details", false))
	lines = append(lines, "Image name: "+analyze.Printable(r.Image))
	lines = append(lines, "Total Image size: "+humanize.Bytes(r.SizeBytes))
	lines = append(lines, "Potential wasted space: "+humanize.Bytes(r.WastedBytes))
	lines = append(lines, fmt.Sprintf("Image efficiency score: %.0f %%", 100*r.Efficiency))
	if len(r.Inefficiencies) > 0 {
		lines = append(lines, "", fmt.Sprintf("%-5s %-12s %s", "Count", "Total Space", "Path"))
		for i, in := range r.Inefficiencies {
			if i >= 8 {
				break
			}
			lines = append(lines, fmt.Sprintf("%-5d %-12s %s", in.Count, humanize.Bytes(uint64(in.Size)), analyze.Printable(in.Path)))
		}
	}
	if len(r.Hints) > 0 {
		lines = append(lines, "", title("Hints", false))
		for _, hnt := range r.Hints {
			lines = append(lines, wrap("• "+hnt.Message, w, "  ")...)
		}
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines[:h]
}

// oneLine squeezes a command onto one printable line.
func oneLine(s string) string {
	return analyze.Printable(strings.Join(strings.Fields(s), " "))
}

// wrap breaks plain text into lines of at most w cells.
func wrap(s string, w int, indent string) []string {
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && ansi.StringWidth(line)+1+ansi.StringWidth(word) > w {
			out = append(out, line)
			line = indent + word
			continue
		}
		if line == "" {
			line = word
		} else {
			line += " " + word
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}

func (m *Model) treePane(w, h int) []string {
	lines := make([]string, 0, h)
	name := "Current Layer Contents"
	if m.aggregated {
		name = "Aggregated Layer Contents"
	}
	lines = append(lines, title(name, m.focus == paneTree)+fmt.Sprintf("  (%d rows)", len(m.rows)))
	if m.showAttrs {
		lines = append(lines, fmt.Sprintf("%-10s %11s %10s  %s", "Permission", "UID:GID", "Size", "Filetree"))
	} else {
		lines = append(lines, "Filetree")
	}
	th := h - 3
	if th < 1 {
		th = 1
	}
	for i := m.offset; i < m.offset+th && i < len(m.rows); i++ {
		lines = append(lines, m.renderRow(i, i == m.cursor && m.focus == paneTree, w))
	}
	for len(lines) < h-1 {
		lines = append(lines, "")
	}
	if m.filtering || m.st.filter != "" {
		cur := ""
		if m.filtering {
			cur = "█"
		}
		lines = append(lines, bold+"Path Filter: "+reset+m.st.filter+cur)
	} else {
		lines = append(lines, "")
	}
	return lines[:h]
}

func (m *Model) renderRow(i int, selected bool, w int) string {
	r := m.rows[i]
	n := r.node
	name := analyze.Printable(n.Name)
	if n.Info.IsLink() {
		name += " → " + analyze.Printable(n.Info.Linkname)
	}
	fold := "─ "
	if r.collapsed {
		fold = "⊕ "
	}
	text := prefix(m.rows, i) + fold + name
	if m.showAttrs {
		text = fmt.Sprintf("%-10s %11s %10s  %s", perms(n), fmt.Sprintf("%d:%d", n.Info.UID, n.Info.GID), humanize.Bytes(uint64(n.Size)), text)
	}
	if selected {
		return reverse + fit(text, w) + reset
	}
	if c := diffColor[n.Diff]; c != "" {
		return c + text + reset
	}
	return text
}

func perms(n *analyze.ViewNode) string {
	mode := n.Info.Mode
	d := "-"
	if n.IsDir() {
		d = "d"
	} else if n.Info.IsLink() {
		d = "l"
	}
	return d + mode.Perm().String()[1:]
}

func (m *Model) statusBar() string {
	if m.focus == paneLayers {
		return reverse + "▏^C Quit ▏Tab Switch view ▏^F Filter ▏^L Show layer changes ▏^A Show aggregated changes ▏" + reset
	}
	flag := func(key, what string, d analyze.Diff) string {
		mark := "●"
		if m.st.hide[d] {
			mark = "○"
		}
		return fmt.Sprintf("▏%s %s %s ", key, mark, what)
	}
	return reverse + "▏^C Quit ▏Tab Switch view ▏^F Filter ▏Space Collapse dir ▏^Space Collapse all dir " +
		flag("^A", "Added", analyze.Added) + flag("^R", "Removed", analyze.Removed) +
		flag("^M", "Modified", analyze.Modified) + flag("^U", "Unmodified", analyze.Unmodified) + "▏^O Sort ▏^B Attributes ▏" + reset
}

// Rows returns the visible rows' paths, for tests.
func (m *Model) Rows() []string {
	out := make([]string, len(m.rows))
	for i, r := range m.rows {
		out[i] = r.node.Path()
	}
	return out
}
