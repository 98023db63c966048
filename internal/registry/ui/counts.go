package ui

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// The repository list shows each repository's tag count, which costs one
// read of its metadata object (a HEAD on S3, where a hundred of them take
// longer than a page may). Counts are kept for countTTL, and a page waits
// at most countWait for the ones it lacks: those still being read show as
// "…" and are there on the next view. A count may thus be countTTL old;
// the repository's own page is always current.
const (
	countTTL   = 30 * time.Second
	countWait  = 20 * time.Millisecond
	maxCounts  = 20_000
	countReads = 8
	// countTimeout bounds the reads a page started and no longer waits for.
	countTimeout = 10 * time.Second
)

type tagCount struct {
	n  int
	ok bool
	at time.Time
}

type countCache struct {
	mu sync.Mutex
	m  map[string]tagCount
}

func (c *countCache) get(name string, now time.Time) (tagCount, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	return e, ok && now.Sub(e.at) < countTTL
}

func (c *countCache) put(name string, e tagCount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCounts {
		c.m = make(map[string]tagCount)
	}
	c.m[name] = e
}

// tagCounts returns the counts of names that are fresh or can be read
// within wait.
func (h *Handler) tagCounts(r *http.Request, names []string, wait time.Duration) []tagCount {
	now := time.Now()
	out := make([]tagCount, len(names))
	var missing []int
	for i, n := range names {
		if e, ok := h.counts.get(n, now); ok {
			out[i] = e
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return out
	}
	// The reads outlive the request (up to countTimeout) so that the next
	// view finds them done; they are bounded by the page size.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), countTimeout)
	var mu sync.Mutex
	got := make(map[int]tagCount, len(missing))
	done := make(chan struct{})
	go func() {
		defer cancel()
		defer close(done)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(countReads)
		for _, i := range missing {
			g.Go(func() error {
				repo, err := h.reg.Repository(gctx, names[i])
				if err != nil {
					return nil
				}
				e := tagCount{n: repo.TagCount(), ok: true, at: time.Now()}
				h.counts.put(names[i], e)
				mu.Lock()
				got[i] = e
				mu.Unlock()
				return nil
			})
		}
		g.Wait()
	}()
	select {
	case <-done:
	case <-time.After(wait):
	case <-r.Context().Done():
	}
	mu.Lock()
	for i, e := range got {
		out[i] = e
	}
	mu.Unlock()
	return out
}
