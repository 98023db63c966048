package store

import (
	"context"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/ref"
)

// Filter is one of Docker's image filters: `--filter KEY=VALUE` on the
// command line, one value of the `filters` JSON map in the Engine API.
type Filter struct {
	Key, Value string
}

// Filters are applied in the order given; every one must match.
type Filters []Filter

// The filter keys each query accepts, as Docker's daemon accepts them.
var (
	ListFilterKeys  = []string{"dangling", "reference", "before", "since", "label", "label!", "until"}
	PruneFilterKeys = []string{"until", "label", "label!"}
)

// ParseFilter splits Docker's KEY=VALUE spelling; ok is false without "=".
func ParseFilter(s string) (f Filter, ok bool) {
	f.Key, f.Value, ok = strings.Cut(s, "=")
	return f, ok
}

// Check validates fs against the keys a query accepts, with the daemon's
// wording for an unknown key or a bad value. now anchors relative until=
// durations (zero: the current time).
func (fs Filters) Check(allowed []string, now time.Time) error {
	_, err := fs.compile(allowed, now)
	return err
}

// matcher is Filters made ready to match: times parsed, before/since
// resolved to the creation time of the image they name.
type matcher struct {
	dangling   *bool
	references []string
	before     *time.Time
	since      *time.Time
	until      *time.Time
	labels     []labelCond
	pending    []Filter // before/since, resolved against the index
}

type labelCond struct {
	key, value string
	hasValue   bool
	negate     bool
}

func (fs Filters) compile(allowed []string, now time.Time) (*matcher, error) {
	if now.IsZero() {
		now = time.Now()
	}
	m := &matcher{}
	for _, f := range fs {
		k, v := strings.ToLower(strings.TrimSpace(f.Key)), f.Value
		if !has(allowed, k) {
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
		switch k {
		case "dangling":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("invalid filter 'dangling=%s'", v)
			}
			m.dangling = &b
		case "reference":
			m.references = append(m.references, v)
		case "label", "label!":
			c := labelCond{negate: k == "label!"}
			c.key, c.value, c.hasValue = strings.Cut(v, "=")
			if strings.HasSuffix(c.key, "!") {
				c.key, c.negate = strings.TrimSuffix(c.key, "!"), true
			}
			m.labels = append(m.labels, c)
		case "until":
			t, err := ParseTimeFilter(v, now)
			if err != nil {
				return nil, err
			}
			m.until = &t
		case "before", "since":
			m.pending = append(m.pending, Filter{k, v})
		}
	}
	return m, nil
}

// resolve looks up the images before= and since= name.
func (m *matcher) resolve(ctx context.Context, x *index) error {
	for _, f := range m.pending {
		img, err := lookup(x, f.Value)
		if err != nil {
			return err
		}
		t := img.Created
		if f.Key == "before" {
			m.before = &t
		} else {
			m.since = &t
		}
	}
	return nil
}

// ParseTimeFilter accepts Docker's until= forms: a Go duration relative to
// now, a Unix timestamp, or an RFC 3339 date or date-time.
func ParseTimeFilter(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Unix(int64(secs), 0), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time filter %s: use a duration (10m), a Unix timestamp or an RFC 3339 date", untrusted.Quote(v))
}

func (m *matcher) match(img *Image) bool {
	if m.dangling != nil && img.Dangling() != *m.dangling {
		return false
	}
	if m.before != nil && !img.Created.Before(*m.before) {
		return false
	}
	if m.since != nil && !img.Created.After(*m.since) {
		return false
	}
	if m.until != nil && !img.Created.Before(*m.until) {
		return false
	}
	for _, c := range m.labels {
		v, present := img.Labels[c.key]
		ok := present && (!c.hasValue || v == c.value)
		if ok == c.negate {
			return false
		}
	}
	if len(m.references) > 0 {
		for _, n := range img.Names {
			if m.matchesName(n) {
				return true
			}
		}
		return false
	}
	return true
}

func (m *matcher) matchesName(n string) bool {
	for _, pat := range m.references {
		if MatchReference(pat, n) {
			return true
		}
	}
	return false
}

// MatchReference matches Docker's reference filter: a glob against the
// familiar name, with or without its tag, or against the full name.
func MatchReference(pattern, name string) bool {
	fam := ref.FamiliarString(name)
	repo := fam
	if i := strings.LastIndexAny(fam, ":@"); i > strings.LastIndex(fam, "/") {
		repo = fam[:i]
	}
	for _, cand := range []string{fam, repo, name} {
		if ok, _ := path.Match(pattern, cand); ok {
			return true
		}
	}
	return false
}
