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
	// registry:2's names (docker/go-metrics over the route names), so that
	// dashboards built for the CNCF registry keep working.
	r2requests *prometheus.CounterVec
	r2duration *prometheus.HistogramVec
	r2inflight *prometheus.GaugeVec
	r2size     *prometheus.HistogramVec

	// Label lookups are cached: the hot path (manifest GET) must not pay for
	// WithLabelValues' hashing on every request.
	mu       sync.RWMutex
	counters map[[3]string]prometheus.Counter
	hists    map[[2]string]prometheus.Observer
	r2       map[[3]string]r2obs
	inflight [routeReferrers + 1]prometheus.Gauge
}

// r2obs are one label set's registry:2 collectors.
type r2obs struct {
	requests prometheus.Counter
	duration prometheus.Observer
	size     prometheus.Observer
}

// r2Handler names a route as registry:2's handler label does.
func r2Handler(route string) string {
	switch route {
	case "ping":
		return "base"
	case "uploads":
		return "blob_upload"
	case "upload":
		return "blob_upload_chunk"
	}
	return route
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
		r2:       map[[3]string]r2obs{},
		r2requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "registry", Subsystem: "http", Name: "requests_total",
			Help: "Total number of HTTP requests made.",
		}, []string{"handler", "code", "method"}),
		r2duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "registry", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "The HTTP request latencies in seconds.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25, 60},
		}, []string{"handler", "method"}),
		r2inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "registry", Subsystem: "http", Name: "in_flight_requests",
			Help: "The in-flight HTTP requests",
		}, []string{"handler"}),
		r2size: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "registry", Subsystem: "http", Name: "response_size_bytes",
			Help:    "The HTTP response sizes in bytes.",
			Buckets: prometheus.ExponentialBuckets(1024, 2, 22),
		}, []string{"handler"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.r2requests, m.r2duration, m.r2inflight, m.r2size} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for k := range m.inflight {
		m.inflight[k] = m.r2inflight.WithLabelValues(r2Handler(routeKind(k).String()))
	}
	m.handler = promhttp.HandlerFor(gat, promhttp.HandlerOpts{})
	return m, nil
}

func (m *metrics) observe(method, route string, code int, d time.Duration, size int64) {
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
	m.mu.RLock()
	o, ok := m.r2[ck]
	m.mu.RUnlock()
	if !ok {
		hn := r2Handler(route)
		o = r2obs{m.r2requests.WithLabelValues(hn, ck[2], method), m.r2duration.WithLabelValues(hn, method), m.r2size.WithLabelValues(hn)}
		m.mu.Lock()
		if len(m.r2) < 1024 {
			m.r2[ck] = o
		}
		m.mu.Unlock()
	}
	o.requests.Inc()
	o.duration.Observe(d.Seconds())
	o.size.Observe(float64(size))
}
