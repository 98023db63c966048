package tui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/berth-dev/berth/internal/analyze"
	"github.com/berth-dev/berth/internal/analyze/imagetest"
)

func report(t testing.TB, layers []imagetest.Layer) *analyze.Report {
	t.Helper()
	var ls []*analyze.Layer
	for i, l := range layers {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(imagetest.WriteTar(pw, l.Files)) }()
		rl, err := analyze.ReadLayer(context.Background(), pr, analyze.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		rl.Index, rl.CreatedBy, rl.Command = i, l.CreatedBy, l.CreatedBy
		ls = append(ls, rl)
	}
	return analyze.Build("test", "test", ls)
}

// press sends keys the way Bubble Tea delivers them.
func press(m *Model, keys ...string) {
	for _, k := range keys {
		var msg tea.KeyPressMsg
		switch {
		case k == "tab":
			msg = tea.KeyPressMsg{Code: tea.KeyTab}
		case k == "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case k == "esc":
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		case k == "space":
			msg = tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
		case k == "down":
			msg = tea.KeyPressMsg{Code: tea.KeyDown}
		case k == "ctrl+space":
			msg = tea.KeyPressMsg{Code: tea.KeySpace, Mod: tea.ModCtrl}
		case k == "pgdown":
			msg = tea.KeyPressMsg{Code: tea.KeyPgDown}
		case strings.HasPrefix(k, "ctrl+"):
			msg = tea.KeyPressMsg{Code: rune(k[len(k)-1]), Mod: tea.ModCtrl}
		default:
			msg = tea.KeyPressMsg{Code: rune(k[0]), Text: k}
		}
		m.Update(msg)
	}
}

func screen(m *Model) string { return ansi.Strip(m.View().Content) }

func TestKeys(t *testing.T) {
	m := New(report(t, imagetest.Waste()))
	m.Update(tea.WindowSizeMsg{Width: 140, Height: 40})
	s := screen(m)
	for _, want := range []string{"Current Layer Contents", "#(nop) ADD file:base", "Index:   1 of 5", "Potential wasted space: 5.7 MB", "apt package lists"} {
		if !strings.Contains(s, want) {
			t.Errorf("first screen lacks %q:\n%s", want, s)
		}
	}
	steps := []struct {
		name  string
		keys  []string
		check func(t *testing.T, s string, rows []string)
	}{
		{"down selects layer 3", []string{"j", "down"}, func(t *testing.T, s string, rows []string) {
			if !strings.Contains(s, "Index:   3 of 5") {
				t.Errorf("not on layer 3:\n%s", s)
			}
		}},
		{"ctrl+a aggregates", []string{"ctrl+a"}, func(t *testing.T, s string, rows []string) {
			if !strings.Contains(s, "Aggregated Layer Contents") {
				t.Error("no aggregated title")
			}
		}},
		{"ctrl+l back to the layer", []string{"ctrl+l"}, func(t *testing.T, s string, rows []string) {
			if !strings.Contains(s, "Current Layer Contents") {
				t.Error("no layer title")
			}
		}},
		{"tab then ctrl+u hides unmodified", []string{"tab", "ctrl+u"}, func(t *testing.T, s string, rows []string) {
			want := []string{"/etc", "/etc/config", "/tmp", "/tmp/big"}
			if strings.Join(rows, " ") != strings.Join(want, " ") {
				t.Errorf("rows %v, want %v", rows, want)
			}
		}},
		{"ctrl+r hides removed", []string{"ctrl+r"}, func(t *testing.T, s string, rows []string) {
			for _, r := range rows {
				if r == "/tmp/big" {
					t.Errorf("removed file shown: %v", rows)
				}
			}
		}},
		{"show all again", []string{"ctrl+r", "ctrl+u"}, func(t *testing.T, s string, rows []string) {
			if len(rows) != 14 {
				t.Errorf("%d rows, want 14: %v", len(rows), rows)
			}
		}},
		{"space collapses the dir under the cursor", []string{"space"}, func(t *testing.T, s string, rows []string) {
			if rows[0] != "/bin" || rows[1] != "/etc" || !strings.Contains(s, "⊕ bin") {
				t.Errorf("bin not collapsed: %v", rows)
			}
		}},
		{"filter", []string{"ctrl+f", "a", "p", "t", "enter"}, func(t *testing.T, s string, rows []string) {
			for _, r := range rows {
				if !strings.HasPrefix("/var/lib/apt/lists", r) && !strings.Contains(r, "apt") {
					t.Errorf("row %s does not match the filter", r)
				}
			}
			if !strings.Contains(s, "Path Filter: apt") {
				t.Error("filter not shown")
			}
		}},
		{"esc clears the filter", []string{"esc"}, func(t *testing.T, s string, rows []string) {
			if len(rows) < 10 {
				t.Errorf("filter kept: %v", rows)
			}
		}},
		{"ctrl+o sorts by size", []string{"ctrl+o"}, func(t *testing.T, s string, rows []string) {
			if rows[0] != "/var" { // 922 kB of apt lists; /tmp only holds a removed file
				t.Errorf("largest first: %v", rows)
			}
		}},
		{"ctrl+o again sorts by name", []string{"ctrl+o"}, func(t *testing.T, s string, rows []string) {
			if rows[0] != "/bin" {
				t.Errorf("by name: %v", rows)
			}
		}},
		{"ctrl+space collapses everything", []string{"ctrl+space"}, func(t *testing.T, s string, rows []string) {
			if len(rows) != 4 {
				t.Errorf("rows %v", rows)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			press(m, st.keys...)
			st.check(t, screen(m), m.Rows())
		})
	}
	if _, cmd := m.Update(tea.KeyPressMsg{Code: 'q', Text: "q"}); cmd == nil {
		t.Error("q does not quit")
	}
}

func TestNoLayers(t *testing.T) {
	m := New(analyze.Build("empty", "test", nil))
	press(m, "j", "tab", "j", "space", "ctrl+a", "ctrl+space", "ctrl+f", "x", "enter")
	if s := screen(m); !strings.Contains(s, "no layers") {
		t.Errorf("screen:\n%s", s)
	}
}

func TestColours(t *testing.T) {
	m := New(report(t, imagetest.Waste()))
	press(m, "j", "j", "tab", "ctrl+u")
	s := m.View().Content
	for _, want := range []string{"\x1b[31m", "\x1b[33m"} { // removed /tmp/big, modified /etc/config
		if !strings.Contains(s, want) {
			t.Errorf("no %q colour", want)
		}
	}
}

func TestPlainText(t *testing.T) {
	var b bytes.Buffer
	WriteText(&b, report(t, imagetest.Waste()))
	for _, want := range []string{"Potential wasted space: 5.7 MB", "2,3           /tmp/big", "Image efficiency score: 18.4374 %"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

// TestLargeImageStaysResponsive opens an image of 100,000 files and times
// what a user does: open, scroll, page, filter, collapse, change layer.
func TestLargeImageStaysResponsive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-file image")
	}
	var layers []imagetest.Layer
	for l := 0; l < 4; l++ {
		var fs []imagetest.File
		for i := 0; i < 25000; i++ {
			fs = append(fs, imagetest.File{Path: fmt.Sprintf("l%d/d%03d/f%05d", l, i%100, i)})
		}
		layers = append(layers, imagetest.Layer{CreatedBy: fmt.Sprintf("RUN layer %d", l), Files: fs})
	}
	r := report(t, layers)
	// Under a second on a quiet machine; twice that leaves room for the
	// other jobs sharing this one.
	limit := 2 * time.Second
	timed := func(what string, f func()) {
		start := time.Now()
		f()
		t.Logf("%s: %v", what, time.Since(start))
		// The race detector slows this code tenfold or more: the actions
		// still run, the clock is only checked without it.
		if d := time.Since(start); d > limit && !raceEnabled {
			t.Errorf("%s took %v (limit %v)", what, d, limit)
		}
	}
	var m *Model
	timed("opening", func() {
		m = New(r)
		press(m, "j", "j", "j")
		m.Update(tea.WindowSizeMsg{Width: 160, Height: 50})
		_ = screen(m)
	})
	timed("aggregated view", func() { press(m, "ctrl+a"); _ = screen(m) })
	press(m, "tab")
	timed("100 scroll steps", func() {
		for i := 0; i < 100; i++ {
			press(m, "down")
			_ = screen(m)
		}
	})
	timed("10 pages", func() {
		for i := 0; i < 10; i++ {
			press(m, "pgdown")
			_ = screen(m)
		}
	})
	timed("typing a filter", func() { press(m, "ctrl+f", "f", "0", "0", "1", "enter"); _ = screen(m) })
	if n := len(m.Rows()); n == 0 || n > 1000 {
		t.Errorf("filter left %d rows", n)
	}
	timed("collapse all", func() { press(m, "esc", "ctrl+space"); _ = screen(m) })
}

func BenchmarkFilter100k(b *testing.B) {
	var layers []imagetest.Layer
	for l := 0; l < 4; l++ {
		var fs []imagetest.File
		for i := 0; i < 25000; i++ {
			fs = append(fs, imagetest.File{Path: fmt.Sprintf("l%d/d%03d/f%05d", l, i%100, i)})
		}
		layers = append(layers, imagetest.Layer{CreatedBy: fmt.Sprintf("RUN layer %d", l), Files: fs})
	}
	m := New(report(b, layers))
	press(m, "j", "j", "j", "tab")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		press(m, "ctrl+f", "f", "0", "0", "1", "esc")
		_ = screen(m)
	}
}

func TestLoadingThenView(t *testing.T) {
	rep := report(t, imagetest.Waste())
	l := &loading{name: "waste", cancel: func() {}}
	l.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	l.Update(progressMsg{2, 5})
	if s := ansi.Strip(l.View().Content); !strings.Contains(s, "Analyzing waste ... 2 of 5 layers read") {
		t.Errorf("loading screen: %q", s)
	}
	l.Update(loadedMsg{rep: rep})
	l.Update(tea.KeyPressMsg{Code: 'j', Text: "j"})
	if s := ansi.Strip(l.View().Content); !strings.Contains(s, "Index:   2 of 5") {
		t.Errorf("view after loading:\n%s", s)
	}
	// Quitting while loading is not an error.
	q := &loading{name: "x", cancel: func() {}}
	if _, cmd := q.Update(tea.KeyPressMsg{Code: 'q', Text: "q"}); cmd == nil || !q.quit {
		t.Error("q during loading does not quit")
	}
}
