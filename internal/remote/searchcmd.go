package remote

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// SearchOptions are the options of Search.
type SearchOptions struct {
	Term   string // Docker Hub's search term, or HOST/TERM for a registry's catalog
	Limit  int    // 1 to 100 (Docker's bounds)
	Filter SearchFilter
}

// Check refuses a limit outside Docker's bounds, with the daemon's wording.
func (o SearchOptions) Check() error {
	if o.Limit < 1 || o.Limit > 100 {
		return fmt.Errorf("limit %d is outside the range of [1, 100]", o.Limit)
	}
	return nil
}

// Search is `search` and the Engine API's GET /images/search: Docker Hub's
// search API for a plain term, the catalog of the registry a HOST/ prefix
// names otherwise, filtered after the limit as Docker's CLI does.
func (c *Client) Search(ctx context.Context, o SearchOptions) ([]SearchResult, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	host, rest := SplitSearchTerm(o.Term)
	if host == "" {
		return c.SearchHub(ctx, rest, o.Limit, o.Filter)
	}
	return c.SearchCatalog(ctx, host, rest, o.Limit, o.Filter)
}

// SplitSearchTerm separates a registry host from the term the way Docker
// does: a first path part with a dot or colon, or "localhost", is a host;
// Docker Hub's own names mean Hub's search.
func SplitSearchTerm(term string) (host, rest string) {
	h, r, ok := strings.Cut(term, "/")
	if ok && (strings.ContainsAny(h, ".:") || h == "localhost") {
		if ConfigHost(h) == "index.docker.io" {
			return "", r
		}
		return h, r
	}
	return "", term
}

// ParseSearchFilter reads Docker's search filters (stars=N,
// is-official=BOOL, is-automated=BOOL), each as KEY=VALUE.
func ParseSearchFilter(in []string) (SearchFilter, error) {
	var f SearchFilter
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return f, fmt.Errorf("bad format of filter (expected name=value): %s", s)
		}
		switch strings.ToLower(k) {
		case "stars":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return f, fmt.Errorf("invalid filter 'stars=%s'", v)
			}
			f.Stars = n
		case "is-official", "is-automated":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, fmt.Errorf("invalid filter '%s=%s'", k, v)
			}
			if k == "is-official" {
				f.Official = &b
			} else {
				f.Automated = &b
			}
		default:
			return f, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	return f, nil
}

// LoginSaved is the first step of `login` without credentials, as Docker
// does it: when saved credentials for host exist it reports
// "Authenticating with existing credentials..." and checks them against the
// registry. ok says they still work, so nothing needs asking.
func (c *Client) LoginSaved(ctx context.Context, host string, ev Events) (ok bool) {
	if ev == nil {
		ev = NoEvents{}
	}
	e, err := c.creds.Get(ctx, host)
	if err != nil || e.Empty() || e.Username == "" || e.Password == "" {
		return false
	}
	ev.Message("", "Authenticating with existing credentials...")
	_, err = c.CheckLogin(ctx, host, e.Username, e.Password)
	return err == nil
}
