package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-dev/berth/internal/registry"
)

// MediaType is the envelope's content type.
const MediaType = "application/vnd.docker.distribution.events.v2+json"

// Endpoint is one webhook.
type Endpoint struct {
	Name      string
	URL       string
	Headers   http.Header
	Timeout   time.Duration // default 1s
	Threshold int           // failures before backing off (default 10)
	Backoff   time.Duration // default 1s
	// IgnoreMediaTypes and IgnoreActions drop matching events.
	IgnoreMediaTypes, IgnoreActions []string
}

// Options configure a Broadcaster.
type Options struct {
	Endpoints  []Endpoint
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// QueueSize bounds each endpoint's pending events (default 10,000);
	// beyond it the oldest are dropped and logged.
	QueueSize int
}

// Broadcaster sends every event to every endpoint; it is a registry.EventSink.
type Broadcaster struct {
	eps    []*endpoint
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type endpoint struct {
	Endpoint
	log    *slog.Logger
	client *http.Client
	mu     sync.Mutex
	queue  []registry.Event
	max    int
	wake   chan struct{}
	m      *metrics
}

type metrics struct {
	events  *prometheus.CounterVec
	status  *prometheus.CounterVec
	pending *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "registry", Subsystem: "notifications", Name: "events_total",
			Help: "The number of total events"}, []string{"type", "endpoint"}),
		status: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "registry", Subsystem: "notifications", Name: "status_total",
			Help: "The number of status code"}, []string{"code", "endpoint"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "registry", Subsystem: "notifications", Name: "pending",
			Help: "The gauge of pending events in queue"}, []string{"endpoint"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.status, m.pending} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// New starts one worker per endpoint.
func New(o Options) (*Broadcaster, error) {
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broadcaster{cancel: cancel}
	for _, e := range o.Endpoints {
		if e.Timeout <= 0 {
			e.Timeout = time.Second
		}
		if e.Threshold <= 0 {
			e.Threshold = 10
		}
		if e.Backoff <= 0 {
			e.Backoff = time.Second
		}
		ep := &endpoint{Endpoint: e, log: log.With("endpoint", e.Name), client: &http.Client{Timeout: e.Timeout},
			max: o.QueueSize, wake: make(chan struct{}, 1), m: m}
		b.eps = append(b.eps, ep)
		b.wg.Add(1)
		go func() { defer b.wg.Done(); ep.run(ctx) }()
	}
	return b, nil
}

// Notify queues e for every endpoint that does not ignore it.
func (b *Broadcaster) Notify(e registry.Event) {
	for _, ep := range b.eps {
		if ep.ignores(e) {
			continue
		}
		ep.mu.Lock()
		if len(ep.queue) >= ep.max {
			ep.queue = ep.queue[1:]
			ep.log.Warn("notification queue full; dropping the oldest event")
		}
		ep.queue = append(ep.queue, e)
		ep.m.pending.WithLabelValues(ep.Name).Set(float64(len(ep.queue)))
		ep.mu.Unlock()
		ep.m.events.WithLabelValues("Events", ep.Name).Inc()
		select {
		case ep.wake <- struct{}{}:
		default:
		}
	}
}

// Close stops the workers once their queues are delivered or ctx ends.
func (b *Broadcaster) Close(ctx context.Context) {
	for _, ep := range b.eps {
		for ep.pending() > 0 && ctx.Err() == nil {
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	b.cancel()
	b.wg.Wait()
}

func (ep *endpoint) pending() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return len(ep.queue)
}

func (ep *endpoint) ignores(e registry.Event) bool {
	for _, a := range ep.IgnoreActions {
		if a == e.Action {
			return true
		}
	}
	for _, mt := range ep.IgnoreMediaTypes {
		if mt == e.Target.MediaType {
			return true
		}
	}
	return false
}

// run delivers batches in order, retrying each until it is taken.
func (ep *endpoint) run(ctx context.Context) {
	failures := 0
	for {
		ep.mu.Lock()
		batch := ep.queue[:min(len(ep.queue), 100)]
		ep.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ep.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		err := ep.send(ctx, batch)
		if err == nil {
			failures = 0
			ep.mu.Lock()
			ep.queue = ep.queue[len(batch):]
			ep.m.pending.WithLabelValues(ep.Name).Set(float64(len(ep.queue)))
			ep.mu.Unlock()
			ep.m.events.WithLabelValues("Successes", ep.Name).Add(float64(len(batch)))
			continue
		}
		failures++
		ep.m.events.WithLabelValues("Failures", ep.Name).Add(float64(len(batch)))
		wait := 50 * time.Millisecond
		if failures >= ep.Threshold {
			wait = ep.Backoff
		}
		if failures == 1 || failures == ep.Threshold {
			ep.log.Warn("notification delivery failed; retrying", "err", err, "failures", failures, "backoff", wait)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
}

func (ep *endpoint) send(ctx context.Context, batch []registry.Event) error {
	body, err := json.Marshal(struct {
		Events []registry.Event `json:"events"`
	}{batch})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range ep.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", MediaType)
	resp, err := ep.client.Do(req)
	if err != nil {
		ep.m.events.WithLabelValues("Errors", ep.Name).Inc()
		return err
	}
	resp.Body.Close()
	ep.m.status.WithLabelValues(strconv.Itoa(resp.StatusCode), ep.Name).Inc()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return nil
	}
	return fmt.Errorf("%w: %s answered %s", errRefused, ep.URL, untrusted.Text(resp.Status))
}

var errRefused = errors.New("endpoint refused the events")
