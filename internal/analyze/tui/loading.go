package tui

import (
	"context"
	"fmt"
	"io"

	tea "charm.land/bubbletea/v2"

	"github.com/berth-dev/berth/internal/analyze"
)

// Loader analyzes the image, reporting each layer read through progress.
type Loader func(ctx context.Context, progress func(done, total int)) (*analyze.Report, error)

type progressMsg struct{ done, total int }

type loadedMsg struct {
	rep *analyze.Report
	err error
}

// loading is the program's model: a progress line while the layers are
// read, then the view of the report. The terminal is taken at once, so the
// view opens before the analysis ends.
type loading struct {
	name          string
	done, total   int
	width, height int
	view          *Model
	err           error
	quit          bool
	cancel        context.CancelFunc
	load          tea.Cmd
}

func (l *loading) Init() tea.Cmd { return l.load }

func (l *loading) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case progressMsg:
		l.done, l.total = msg.done, msg.total
		return l, nil
	case loadedMsg:
		if msg.err != nil {
			l.err = msg.err
			return l, tea.Quit
		}
		l.view = New(msg.rep)
		if l.width > 0 {
			l.view.Update(tea.WindowSizeMsg{Width: l.width, Height: l.height})
		}
		return l, nil
	case tea.WindowSizeMsg:
		l.width, l.height = msg.Width, msg.Height
	case tea.KeyPressMsg:
		if l.view == nil {
			if k := msg.String(); k == "q" || k == "ctrl+c" {
				// The user quits, as they would from the view: no error.
				l.cancel()
				l.quit = true
				return l, tea.Quit
			}
			return l, nil
		}
	}
	if l.view != nil {
		_, cmd := l.view.Update(msg)
		return l, cmd
	}
	return l, nil
}

func (l *loading) View() tea.View {
	if l.view != nil {
		return l.view.View()
	}
	text := fmt.Sprintf("Analyzing %s ...", analyze.Printable(l.name))
	if l.total > 0 {
		text = fmt.Sprintf("Analyzing %s ... %d of %d layers read", analyze.Printable(l.name), l.done, l.total)
	}
	v := tea.NewView(bold + text + reset + "\n\n(q to cancel)")
	v.AltScreen = true
	return v
}

// RunLoading opens the view on the terminal at once and fills it when load
// returns; q or ^C during the analysis cancels it.
func RunLoading(ctx context.Context, name string, load Loader, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := &loading{name: name, cancel: cancel}
	p := tea.NewProgram(l, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out))
	l.load = func() tea.Msg {
		rep, err := load(ctx, func(done, total int) { p.Send(progressMsg{done, total}) })
		return loadedMsg{rep, err}
	}
	_, err := p.Run()
	if l.quit {
		return nil
	}
	if l.err != nil {
		return l.err
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
