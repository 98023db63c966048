package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"
)

// TestLineProgressLayerOrder: off a terminal, "Pull complete" lines come
// in layer order even when a later layer finishes first, as docker pull's.
func TestLineProgressLayerOrder(t *testing.T) {
	var out bytes.Buffer
	p := newLineProgress(&out)
	p.Status("aaa", "Already exists")
	p.Status("bbb", "Pulling fs layer")
	p.Status("ccc", "Pulling fs layer")
	p.Status("ddd", "Pulling fs layer")
	p.Status("ddd", "Waiting")
	p.Status("ccc", "Downloading")
	p.Status("ccc", "Download complete")
	p.Status("ccc", "Pull complete") // before bbb: held back
	p.Status("bbb", "Download complete")
	p.Status("bbb", "Pull complete")
	p.Status("ddd", "Download complete")
	p.Status("ddd", "Pull complete")
	p.Wait()
	var completes []string
	for _, l := range strings.Split(out.String(), "\n") {
		if id, ok := strings.CutSuffix(l, ": Pull complete"); ok {
			completes = append(completes, id)
		}
		if strings.Contains(l, "Downloading") {
			t.Errorf("byte progress off a terminal: %q", l)
		}
	}
	if strings.Join(completes, ",") != "bbb,ccc,ddd" {
		t.Errorf("Pull complete order %v, want bbb,ccc,ddd:\n%s", completes, out.String())
	}
	if !strings.HasPrefix(out.String(), "aaa: Already exists\nbbb: Pulling fs layer\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestBarProgressDockerStyle checks the terminal bars look like docker
// pull's: "ID: Downloading [====>   ]  17.15MB/38.2MB", then the status
// alone once the layer is complete.
func TestBarProgressDockerStyle(t *testing.T) {
	var out syncBuffer
	b := newBarProgress(&out, mpb.WithAutoRefresh(), mpb.WithWidth(120)) // as on a 120-column terminal
	b.Status("a3ed95caeb02", "Downloading")
	b.Bytes("a3ed95caeb02", 17_150_000, 38_200_000)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "17.15MB/38.2MB") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := out.String()
	for _, w := range []string{"a3ed95caeb02: Downloading", "[======", ">", "]  17.15MB/38.2MB"} {
		if !strings.Contains(got, w) {
			t.Errorf("bar lacks %q:\n%q", w, got)
		}
	}
	b.Bytes("a3ed95caeb02", 38_200_000, 38_200_000)
	b.Status("a3ed95caeb02", "Pull complete")
	b.Wait()
	last := out.String()
	if i := strings.LastIndex(last, "a3ed95caeb02: "); i < 0 || !strings.HasPrefix(last[i:], "a3ed95caeb02: Pull complete") {
		t.Errorf("final frame is not the status line:\n%q", last)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
