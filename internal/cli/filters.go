package cli

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/store"
)

// imageFilter is Docker's --filter for images and image prune.
type imageFilter struct {
	dangling   *bool
	references []string
	before     *time.Time
	since      *time.Time
	until      *time.Time
	labels     []labelCond
}

type labelCond struct {
	key, value string
	hasValue   bool
	negate     bool
}

// parseImageFilters parses key=value filters; allowed names the keys this
// command accepts, as Docker refuses others.
func (a *app) parseImageFilters(args []string, allowed ...string) (*imageFilter, func(ctx context.Context, s *store.Store) error, error) {
	f := &imageFilter{}
	var pending []func(ctx context.Context, s *store.Store) error
	ok := map[string]bool{}
	for _, k := range allowed {
		ok[k] = true
	}
	for _, arg := range args {
		k, v, found := strings.Cut(arg, "=")
		if !found {
			return f, nil, usageError{fmt.Errorf("bad format of filter (expected name=value)")}
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok[k] {
			return f, nil, fmt.Errorf("invalid filter '%s'", k)
		}
		switch k {
		case "dangling":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, nil, fmt.Errorf("invalid filter 'dangling=%s'", v)
			}
			f.dangling = &b
		case "reference":
			f.references = append(f.references, v)
		case "label", "label!":
			c := labelCond{negate: k == "label!"}
			c.key, c.value, c.hasValue = strings.Cut(v, "=")
			if strings.HasSuffix(c.key, "!") {
				c.key, c.negate = strings.TrimSuffix(c.key, "!"), true
			}
			f.labels = append(f.labels, c)
		case "until":
			t, err := parseTimeFilter(v, time.Now())
			if err != nil {
				return f, nil, err
			}
			f.until = &t
		case "before", "since":
			key, val := k, v
			pending = append(pending, func(ctx context.Context, s *store.Store) error {
				img, err := s.Lookup(ctx, val)
				if err != nil {
					return err
				}
				t := img.Created
				if key == "before" {
					f.before = &t
				} else {
					f.since = &t
				}
				return nil
			})
		}
	}
	resolve := func(ctx context.Context, s *store.Store) error {
		for _, p := range pending {
			if err := p(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
	return f, resolve, nil
}

// parseTimeFilter accepts Docker's until= forms: a Go duration relative to
// now, a Unix timestamp, or an RFC 3339 date or date-time.
func parseTimeFilter(v string, now time.Time) (time.Time, error) {
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
	return time.Time{}, fmt.Errorf("invalid time filter %q: use a duration (10m), a Unix timestamp or an RFC 3339 date", v)
}

func (f *imageFilter) match(img store.Image) bool {
	if f.dangling != nil && img.Dangling() != *f.dangling {
		return false
	}
	if f.before != nil && !img.Created.Before(*f.before) {
		return false
	}
	if f.since != nil && !img.Created.After(*f.since) {
		return false
	}
	if f.until != nil && !img.Created.Before(*f.until) {
		return false
	}
	for _, c := range f.labels {
		v, present := img.Labels[c.key]
		m := present && (!c.hasValue || v == c.value)
		if m == c.negate {
			return false
		}
	}
	if len(f.references) > 0 {
		any := false
		for _, n := range img.Names {
			for _, pat := range f.references {
				if referenceMatches(pat, n) {
					any = true
				}
			}
		}
		if !any {
			return false
		}
	}
	return true
}

// referenceMatches matches Docker's reference filter: a glob against the
// familiar name, with or without its tag.
func referenceMatches(pattern, full string) bool {
	fam := ref.FamiliarString(full)
	repo := fam
	if i := strings.LastIndexAny(fam, ":@"); i > strings.LastIndex(fam, "/") {
		repo = fam[:i]
	}
	for _, cand := range []string{fam, repo, full} {
		if ok, _ := path.Match(pattern, cand); ok {
			return true
		}
	}
	return false
}
