package build

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints BuildKit's plain progress format: every vertex gets a
// number, "#N name", its output lines as "#N 0.123 text", and a final
// "#N DONE 0.2s" or "#N CACHED". Concurrent stages interleave by line.
type progress struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

type vertex struct {
	p     *progress
	id    int
	start time.Time
	buf   []byte
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w}
}

func (p *progress) vertex(name string) *vertex {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	fmt.Fprintf(p.w, "#%d %s\n", p.n, name)
	return &vertex{p: p, id: p.n, start: time.Now()}
}

func (v *vertex) printf(format string, args ...any) {
	v.p.mu.Lock()
	defer v.p.mu.Unlock()
	fmt.Fprintf(v.p.w, "#%d "+format+"\n", append([]any{v.id}, args...)...)
}

// Write makes a vertex the output of a RUN: each line is prefixed with the
// vertex number and the seconds since it started.
func (v *vertex) Write(b []byte) (int, error) {
	v.buf = append(v.buf, b...)
	for {
		i := bytes.IndexByte(v.buf, '\n')
		if i < 0 {
			break
		}
		v.printf("%.3f %s", time.Since(v.start).Seconds(), v.buf[:i])
		v.buf = v.buf[i+1:]
	}
	return len(b), nil
}

func (v *vertex) flush() {
	if len(v.buf) > 0 {
		v.printf("%.3f %s", time.Since(v.start).Seconds(), v.buf)
		v.buf = nil
	}
}

func (v *vertex) cached() {
	v.p.mu.Lock()
	defer v.p.mu.Unlock()
	fmt.Fprintf(v.p.w, "#%d CACHED\n\n", v.id)
}

func (v *vertex) done() {
	v.flush()
	v.p.mu.Lock()
	defer v.p.mu.Unlock()
	fmt.Fprintf(v.p.w, "#%d DONE %.1fs\n\n", v.id, time.Since(v.start).Seconds())
}

func (v *vertex) fail(err error) {
	v.flush()
	v.p.mu.Lock()
	defer v.p.mu.Unlock()
	fmt.Fprintf(v.p.w, "#%d ERROR: %v\n\n", v.id, err)
}
