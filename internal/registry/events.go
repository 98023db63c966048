package registry

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Event is one registry:2 notification: what happened (push, pull, mount,
// delete) to what (a manifest or a blob of a repository), for which
// request and user. Its JSON is registry:2's (notifications/event.go).
type Event struct {
	ID        string      `json:"id"`
	Timestamp time.Time   `json:"timestamp"`
	Action    string      `json:"action"`
	Target    EventTarget `json:"target"`
	Request   struct {
		ID        string `json:"id"`
		Addr      string `json:"addr,omitempty"`
		Host      string `json:"host,omitempty"`
		Method    string `json:"method"`
		UserAgent string `json:"useragent"`
	} `json:"request"`
	Actor struct {
		Name string `json:"name,omitempty"`
	} `json:"actor"`
	Source struct {
		Addr       string `json:"addr,omitempty"`
		InstanceID string `json:"instanceID,omitempty"`
	} `json:"source"`
}

// EventTarget is what an Event is about.
type EventTarget struct {
	MediaType      string       `json:"mediaType,omitempty"`
	Digest         string       `json:"digest,omitempty"`
	Size           int64        `json:"size,omitempty"`
	Length         int64        `json:"length,omitempty"`
	Repository     string       `json:"repository,omitempty"`
	FromRepository string       `json:"fromRepository,omitempty"`
	URL            string       `json:"url,omitempty"`
	Tag            string       `json:"tag,omitempty"`
	References     []descriptor `json:"references,omitempty"`
}

// EventSink receives the registry's events (internal/registry/notify sends
// them to registry:2's notification endpoints). Notify must not block.
type EventSink interface {
	Notify(e Event)
}

const keyUser ctxKey = keyGrants + 1 // distinct from keyGrants, which a user in the context used to shadow

// event sends one event to the sink, if there is one. The request gives
// the request record and the target's URL.
func (s *Server) event(r *http.Request, action string, t EventTarget) {
	if s.opts.Events == nil {
		return
	}
	e := Event{ID: s.idPrefix + itoa(int64(s.idSeq.Add(1))), Timestamp: time.Now().UTC(), Action: action, Target: t}
	e.Request.ID = requestID(r)
	e.Request.Addr = r.RemoteAddr
	e.Request.Host = r.Host
	e.Request.Method = r.Method
	e.Request.UserAgent = r.UserAgent()
	e.Actor.Name, _ = r.Context().Value(keyUser).(string)
	e.Source.Addr = s.opts.InstanceAddr
	e.Source.InstanceID = s.instance
	if t.URL != "" && strings.HasPrefix(t.URL, "/") {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		e.Target.URL = scheme + "://" + r.Host + s.opts.PathPrefix + t.URL
	}
	s.opts.Events.Notify(e)
}

func withUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, keyUser, user)
}

// manifestTarget describes a manifest for an event.
func manifestTarget(name, ds string, e *manifestEntry, tag string) EventTarget {
	return EventTarget{MediaType: e.MediaType, Digest: ds, Size: e.Size, Length: e.Size, Repository: name,
		URL: "/v2/" + name + "/manifests/" + ds, Tag: tag}
}

// blobTarget describes a blob for an event.
func blobTarget(name, ds string, size int64) EventTarget {
	return EventTarget{MediaType: "application/octet-stream", Digest: ds, Size: size, Length: size, Repository: name,
		URL: "/v2/" + name + "/blobs/" + ds}
}
