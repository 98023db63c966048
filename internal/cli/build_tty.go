package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// liveView renders the builder's plain progress stream ("#N name", "#N
// 0.123 output", "#N DONE 0.2s", "#N CACHED", "#N ERROR: …") as BuildKit's
// live TTY view: one line per step with its duration, the running steps'
// last output line, redrawn in place. The plain stream stays the single
// source of truth; this is only a renderer.
type liveView struct {
	mu      sync.Mutex
	out     io.Writer
	start   time.Time
	vs      []*liveVertex
	byID    map[string]*liveVertex
	notes   []string
	buf     lineBuffer
	drawn   int
	stop    chan struct{}
	stopped chan struct{}
	width   int // terminal columns: longer lines are cut, or they would wrap and break the redraw
}

type liveVertex struct {
	name  string
	start time.Time
	dur   time.Duration
	state string // "", "CACHED", "DONE", "ERROR"
	logs  []string
}

func newLiveView(out io.Writer, width int) *liveView {
	if width <= 0 {
		width = 120
	}
	v := &liveView{out: out, width: width, start: time.Now(), byID: map[string]*liveVertex{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(v.stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-v.stop:
				return
			case <-t.C:
				v.mu.Lock()
				v.draw(false)
				v.mu.Unlock()
			}
		}
	}()
	return v
}

func (v *liveView) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.buf.feed(p, v.line)
	return len(p), nil
}

func (v *liveView) line(l string) {
	if l == "" {
		return
	}
	id, rest, ok := strings.Cut(l, " ")
	if !ok || !strings.HasPrefix(id, "#") {
		v.notes = append(v.notes, l)
		return
	}
	vx := v.byID[id]
	if vx == nil {
		vx = &liveVertex{name: rest, start: time.Now()}
		v.byID[id] = vx
		v.vs = append(v.vs, vx)
		return
	}
	switch {
	case rest == "CACHED":
		vx.state = "CACHED"
	case strings.HasPrefix(rest, "DONE "):
		vx.state = "DONE"
		vx.dur = time.Since(vx.start)
	case strings.HasPrefix(rest, "ERROR: "):
		vx.state = "ERROR"
		vx.dur = time.Since(vx.start)
		vx.logs = append(vx.logs, rest)
	default:
		// "0.123 text": keep the text (the last 200 lines).
		if f, txt, ok := strings.Cut(rest, " "); ok {
			if _, err := strconv.ParseFloat(f, 64); err == nil {
				rest = txt
			}
		}
		vx.logs = append(vx.logs, rest)
		if len(vx.logs) > 200 {
			vx.logs = vx.logs[len(vx.logs)-200:]
		}
	}
}

// draw redraws the view in place (final: once more, without live lines).
func (v *liveView) draw(final bool) {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn)
	}
	lines := 0
	put := func(s string) {
		if r := []rune(s); len(r) > v.width-1 {
			s = string(r[:v.width-2]) + "…"
		}
		b.WriteString("\x1b[2K" + s + "\n")
		lines++
	}
	done := 0
	for _, x := range v.vs {
		if x.state != "" {
			done++
		}
	}
	status := ""
	if final {
		status = " FINISHED"
	}
	put(fmt.Sprintf("[+] Building %.1fs (%d/%d)%s", time.Since(v.start).Seconds(), done, len(v.vs), status))
	for _, x := range v.vs {
		switch x.state {
		case "CACHED":
			put(" => CACHED " + x.name)
		case "DONE":
			put(fmt.Sprintf(" => %s %.1fs", x.name, x.dur.Seconds()))
		case "ERROR":
			put(fmt.Sprintf(" => ERROR %s %.1fs", x.name, x.dur.Seconds()))
		default:
			put(fmt.Sprintf(" => %s %.1fs", x.name, time.Since(x.start).Seconds()))
			if len(x.logs) > 0 && !final {
				put(" => => # " + x.logs[len(x.logs)-1])
			}
		}
	}
	// Shrinking views leave stale lines: clear them.
	for lines < v.drawn {
		put("")
	}
	v.drawn = lines
	if final {
		v.drawn = 0
	}
	io.WriteString(v.out, b.String())
}

// Close stops the redraws and prints the final view, then the output of
// failed steps and any notes (warnings).
func (v *liveView) Close() {
	close(v.stop)
	<-v.stopped
	v.mu.Lock()
	defer v.mu.Unlock()
	v.buf.flush(v.line)
	v.draw(true)
	for _, x := range v.vs {
		if x.state == "ERROR" {
			fmt.Fprintf(v.out, "------\n > %s:\n", x.name)
			for _, l := range x.logs {
				fmt.Fprintf(v.out, "%s\n", l)
			}
			fmt.Fprintln(v.out, "------")
		}
	}
	for _, n := range v.notes {
		fmt.Fprintln(v.out, n)
	}
}
