package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/registry/config"
	"github.com/berth-dev/berth/internal/registry/storage"
)

// healthChecks are registry:2's health.* checks. While one fails (threshold
// times in a row), every request gets 503 with the failing checks, as
// registry:2's health gate answers, so a load balancer takes the replica out.
type healthChecks struct {
	mu     sync.Mutex
	status map[string]error
	checks []check
}

type check struct {
	name      string
	interval  time.Duration
	threshold int
	run       func(ctx context.Context) error
}

func newHealthChecks(c *config.Config, drv storage.Driver, driverName string) *healthChecks {
	h := &healthChecks{status: map[string]error{}}
	if sd := c.Health.StorageDriver; sd.Enabled {
		h.checks = append(h.checks, check{"storagedriver_" + driverName, sd.Interval, sd.Threshold, func(ctx context.Context) error {
			// A key that never exists: "not found" is the healthy answer.
			_, err := drv.Stat(ctx, "health/probe")
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			return err
		}})
	}
	for _, f := range c.Health.File {
		h.checks = append(h.checks, check{f.File, f.Interval, f.Threshold, func(context.Context) error {
			if _, err := os.Stat(f.File); err == nil {
				return errors.New("file exists")
			}
			return nil
		}})
	}
	for _, hc := range c.Health.HTTP {
		want := hc.StatusCode
		if want == 0 {
			want = http.StatusOK
		}
		timeout := hc.Timeout
		if timeout <= 0 {
			timeout = time.Second
		}
		h.checks = append(h.checks, check{hc.URI, hc.Interval, hc.Threshold, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodHead, hc.URI, nil)
			if err != nil {
				return err
			}
			for k, vs := range hc.Headers {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				return fmt.Errorf("downstream service returned unexpected status: %d", resp.StatusCode)
			}
			return nil
		}})
	}
	for _, tc := range c.Health.TCP {
		timeout := tc.Timeout
		if timeout <= 0 {
			timeout = time.Second
		}
		h.checks = append(h.checks, check{tc.Addr, tc.Interval, tc.Threshold, func(ctx context.Context) error {
			d := net.Dialer{Timeout: timeout}
			conn, err := d.DialContext(ctx, "tcp", tc.Addr)
			if err != nil {
				return fmt.Errorf("connection to %s failed", tc.Addr)
			}
			conn.Close()
			return nil
		}})
	}
	return h
}

// start runs every check on its interval (default 10s) until ctx ends.
func (h *healthChecks) start(ctx context.Context, log *slog.Logger) {
	for _, c := range h.checks {
		go func() {
			every := c.interval
			if every <= 0 {
				every = 10 * time.Second
			}
			fails := 0
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				cctx, cancel := context.WithTimeout(ctx, every)
				err := c.run(cctx)
				cancel()
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					fails++
				} else {
					fails = 0
				}
				h.mu.Lock()
				before := h.status[c.name]
				if err == nil {
					delete(h.status, c.name)
				} else if fails > c.threshold || c.threshold == 0 {
					h.status[c.name] = err
				}
				after := h.status[c.name]
				h.mu.Unlock()
				if (before == nil) != (after == nil) {
					if after != nil {
						log.Warn("health check failing", "check", c.name, "err", after)
					} else {
						log.Info("health check passing again", "check", c.name)
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
}

func (h *healthChecks) failing() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.status) == 0 {
		return nil
	}
	out := make(map[string]string, len(h.status))
	for k, v := range h.status {
		out[k] = v.Error()
	}
	return out
}

// refuse answers 503 with the failing checks, when there are any.
func (h *healthChecks) refuse(w http.ResponseWriter, r *http.Request) bool {
	f := h.failing()
	if f == nil {
		return false
	}
	writeHealth(w, r, f)
	return true
}

func writeHealth(w http.ResponseWriter, r *http.Request, f map[string]string) {
	body, _ := json.Marshal(f)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Retry-After", "10")
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// handler is /debug/health: 200 {} or 503 with the failing checks.
func (h *healthChecks) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := h.failing(); f != nil {
			writeHealth(w, r, f)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write([]byte("{}"))
	})
}
