package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rawJSONProgress renders the builder's plain progress stream as buildx's
// --progress=rawjson: one JSON object per line, each a BuildKit
// SolveStatus ({"vertexes":[…],"logs":[…]}) as `docker buildx build
// --progress=rawjson` prints it, so tools that parse it (CI annotators,
// progress recorders) read berth's. Like liveView it is only a renderer of
// the plain stream.
type rawJSONProgress struct {
	mu   sync.Mutex
	enc  *json.Encoder
	buf  lineBuffer
	byID map[string]*rawVertex
}

// rawVertex, rawLog and rawStatus have the JSON names of BuildKit's
// client.Vertex, client.VertexLog and client.SolveStatus.
type rawVertex struct {
	Digest    string     `json:"digest,omitempty"`
	Name      string     `json:"name,omitempty"`
	Started   *time.Time `json:"started,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
	Cached    bool       `json:"cached,omitempty"`
	Error     string     `json:"error,omitempty"`
}

type rawLog struct {
	Vertex    string    `json:"vertex,omitempty"`
	Stream    int       `json:"stream,omitempty"`
	Data      []byte    `json:"data,omitempty"`
	Timestamp time.Time `json:"timestamp"`
}

type rawStatus struct {
	Vertexes []*rawVertex `json:"vertexes,omitempty"`
	Logs     []rawLog     `json:"logs,omitempty"`
}

func newRawJSONProgress(w io.Writer) *rawJSONProgress {
	return &rawJSONProgress{enc: json.NewEncoder(w), byID: map[string]*rawVertex{}}
}

func (p *rawJSONProgress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.feed(b, p.line)
	return len(b), nil
}

// Close flushes a last unterminated line.
func (p *rawJSONProgress) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.flush(p.line)
}

// lineBuffer cuts a stream written in arbitrary pieces into lines, for the
// renderers of the plain progress stream.
type lineBuffer struct{ buf []byte }

func (l *lineBuffer) feed(p []byte, line func(string)) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return
		}
		line(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

// flush hands on what is left without a newline.
func (l *lineBuffer) flush(line func(string)) {
	if len(l.buf) > 0 {
		line(string(l.buf))
		l.buf = nil
	}
}

func (p *rawJSONProgress) line(l string) {
	if l == "" {
		return
	}
	now := time.Now().UTC()
	id, rest, ok := strings.Cut(l, " ")
	if !ok || !strings.HasPrefix(id, "#") {
		// A note outside any step (a warning): BuildKit would send it as a
		// warning; a log of no vertex keeps it visible.
		p.enc.Encode(rawStatus{Logs: []rawLog{{Stream: 2, Data: []byte(l + "\n"), Timestamp: now}}})
		return
	}
	v := p.byID[id]
	if v == nil {
		// BuildKit's vertex digests are of the LLB op; berth's are of the
		// step's number and name, unique within one build.
		sum := sha256.Sum256([]byte(id + " " + rest))
		v = &rawVertex{Digest: "sha256:" + hex.EncodeToString(sum[:]), Name: rest, Started: &now}
		p.byID[id] = v
		p.enc.Encode(rawStatus{Vertexes: []*rawVertex{v}})
		return
	}
	switch {
	case rest == "CACHED":
		v.Cached, v.Completed = true, &now
	case strings.HasPrefix(rest, "DONE "):
		v.Completed = &now
	case strings.HasPrefix(rest, "ERROR: "):
		v.Completed, v.Error = &now, strings.TrimPrefix(rest, "ERROR: ")
	default:
		// "0.123 text": a line of the step's output.
		if f, txt, ok := strings.Cut(rest, " "); ok {
			if _, err := strconv.ParseFloat(f, 64); err == nil {
				rest = txt
			}
		}
		p.enc.Encode(rawStatus{Logs: []rawLog{{Vertex: v.Digest, Stream: 1, Data: []byte(rest + "\n"), Timestamp: now}}})
		return
	}
	p.enc.Encode(rawStatus{Vertexes: []*rawVertex{v}})
}
