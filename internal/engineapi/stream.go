package engineapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
)

// message is one line of Docker's JSON-message stream. It is moby's
// jsonstream.Message plus the top-level "error" string, which the module's
// type no longer has but API 1.50 clients read: docker-py raises on
// chunk["error"], and the docker CLI 28 prints errorDetail. The daemon sends
// both, so berth does too.
type message struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

// streamNewline ends each message, as the daemon writes it.
const streamNewline = "\r\n"

// progressEvery is how often byte progress of one id is sent: a client
// redraws its bars from these, and a line per network read would be most of
// the traffic of a fast pull.
const progressEvery = 100 * time.Millisecond

// stream writes JSON messages to a response, each flushed as it is written,
// so that clients draw progress as it happens. It is safe for concurrent
// use: layers report progress from several goroutines.
type stream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool  // the status line and a first message went out
	broken  error // a write failed: the client went away
	lastAt  map[string]time.Time
	// bytesStatus is the status byte progress is shown with: the
	// daemon's "Downloading" for pulls, "Pushing" for pushes.
	bytesStatus string
}

func newStream(w http.ResponseWriter) *stream {
	return &stream{w: w, rc: http.NewResponseController(w), lastAt: map[string]time.Time{}, bytesStatus: "Downloading"}
}

// begin sends the 200 and the JSON content type. Until then a failure can
// still be answered with a status code and {"message": …}.
func (s *stream) begin() {
	if s.started {
		return
	}
	s.started = true
	s.w.Header().Set("Content-Type", "application/json")
	s.w.WriteHeader(http.StatusOK)
}

func (s *stream) send(m message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(m)
}

func (s *stream) sendLocked(m message) error {
	if s.broken != nil {
		return s.broken
	}
	s.begin()
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, streamNewline...)
	if _, err := s.w.Write(b); err != nil {
		s.broken = err
		return err
	}
	if err := s.rc.Flush(); err != nil {
		s.broken = err
		return err
	}
	return nil
}

// Stream sends a {"stream": …} message (build output).
func (s *stream) Stream(text string) error {
	return s.send(message{Message: jsonstream.Message{Stream: text}})
}

// StatusLine sends a {"status": …} message without an id.
func (s *stream) StatusLine(text string) error {
	return s.send(message{Message: jsonstream.Message{Status: text}})
}

// Aux sends {"aux": v}.
func (s *stream) Aux(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	raw := json.RawMessage(b)
	return s.send(message{Message: jsonstream.Message{Aux: &raw}})
}

// Status is remote.Progress: a per-layer status ("Pulling fs layer",
// "Download complete", "Pushed"…). Like the daemon, a layer's first status
// and its completion carry an empty progressDetail, which makes the docker
// CLI draw (and then clear) that layer's bar.
func (s *stream) Status(id, status string) {
	if status == "Downloading" || status == "Pushing" {
		// Sent with byte counts by Bytes, as the daemon does: a bare
		// one would print as a line of its own on a non-terminal.
		return
	}
	m := message{Message: jsonstream.Message{ID: id, Status: status}}
	if layerStatus(status) {
		m.Progress = &jsonstream.Progress{}
	}
	_ = s.send(m)
}

func layerStatus(status string) bool {
	switch status {
	case "Pulling fs layer", "Waiting", "Verifying Checksum", "Download complete", "Extracting", "Pull complete",
		"Preparing", "Pushed", "Layer already exists", "Already exists":
		return true
	}
	return strings.HasPrefix(status, "Mounted from")
}

// Bytes is remote.Progress: bytes moved for one layer, sent at most every
// progressEvery per layer (and always at the end).
func (s *stream) Bytes(id string, done, total int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(s.lastAt[id]) < progressEvery {
		return
	}
	s.lastAt[id] = now
	_ = s.sendLocked(message{Message: jsonstream.Message{ID: id, Status: s.bytesStatus, Progress: &jsonstream.Progress{Current: done, Total: total}}})
}

// fail reports err: as the response itself while nothing was sent, else
// inside the stream (errorDetail with the status code, and error), as the
// daemon does once it has answered 200.
func (s *stream) fail(err error) { s.failCode(err, statusOf(err)) }

// failCode is fail with errorDetail.code set to code once the stream has
// begun (a build's failing command's exit status, which the docker CLI
// exits with).
func (s *stream) failCode(err error, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		writeError(s.w, err)
		return
	}
	_ = s.sendLocked(message{
		Message:      jsonstream.Message{Error: &jsonstream.Error{Code: code, Message: err.Error()}},
		ErrorMessage: err.Error(),
	})
}
