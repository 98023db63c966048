package registry

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus collectors, served at /metrics.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler

	// Label lookups are cached: the hot path (manifest GET) must not pay for
	// WithLabelValues' hashing on every request.
	mu       sync.RWMutex
	counters map[[3]string]prometheus.Counter
	hists    map[[2]string]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, gat prometheus.Gatherer) (*metrics, error) {
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gat = r, r
	}
	if gat == nil {
		gat = prometheus.DefaultGatherer
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "berth", Subsystem: "registry", Name: "http_requests_total",
			Help: "HTTP requests served, by method, route and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "berth", Subsystem: "registry", Name: "http_request_duration_seconds",
			Help:    "Time to serve a request, by method and route.",
			Buckets: []float64{.0005, .001, .005, .025, .1, .5, 2.5, 10, 60},
		}, []string{"method", "route"}),
		counters: map[[3]string]prometheus.Counter{},
		hists:    map[[2]string]prometheus.Observer{},
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(gat, promhttp.HandlerOpts{})
	return m, nil
}

func (m *metrics) observe(method, route string, code int, d time.Duration) {
	ck := [3]string{method, route, strconv.Itoa(code)}
	hk := [2]string{method, route}
	m.mu.RLock()
	c, ok1 := m.counters[ck]
	h, ok2 := m.hists[hk]
	m.mu.RUnlock()
	if !ok1 || !ok2 {
		c = m.requests.WithLabelValues(ck[:]...)
		h = m.duration.WithLabelValues(hk[:]...)
		m.mu.Lock()
		if len(m.counters) < 1024 { // methods are client-chosen: bound the cache
			m.counters[ck] = c
			m.hists[hk] = h
		}
		m.mu.Unlock()
	}
	c.Inc()
	h.Observe(d.Seconds())
}
