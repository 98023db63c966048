package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// SearchResult is one row of `search`, with Docker Hub's field names.
type SearchResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	StarCount   int    `json:"star_count"`
	IsOfficial  bool   `json:"is_official"`
	IsAutomated bool   `json:"is_automated"`
}

// SearchFilter is Docker's --filter set; nil pointers mean "any".
type SearchFilter struct {
	Stars     int
	Official  *bool
	Automated *bool
}

func (f SearchFilter) keep(r SearchResult) bool {
	if r.StarCount < f.Stars {
		return false
	}
	if f.Official != nil && r.IsOfficial != *f.Official {
		return false
	}
	if f.Automated != nil && r.IsAutomated != *f.Automated {
		return false
	}
	return true
}

// hubURLEnv overrides Docker Hub's index URL. It exists for tests (a local
// server speaking Hub's search API); users never need it.
const hubURLEnv = "BERTH_HUB_URL"

func hubURL() string {
	if u := os.Getenv(hubURLEnv); u != "" {
		return strings.TrimSuffix(u, "/")
	}
	return "https://index.docker.io"
}

// SearchHub queries Docker Hub's search API (GET /v1/search?q=&n=) and
// applies the filter as Docker's CLI does, after the limit.
func (c *Client) SearchHub(ctx context.Context, term string, limit int, f SearchFilter) ([]SearchResult, error) {
	base := hubURL()
	u, err := url.Parse(base + "/v1/search")
	if err != nil {
		return nil, fmt.Errorf("hub URL %s: %w", untrusted.Quote(base), err)
	}
	q := url.Values{}
	q.Set("q", term)
	q.Set("n", fmt.Sprint(limit))
	u.RawQuery = q.Encode()
	host := u.Host
	var rt http.RoundTripper = newHTTPTransport(nil)
	if os.Getenv(hubURLEnv) == "" {
		hc, err := c.host(ctx, host)
		if err != nil {
			return nil, err
		}
		rt = hc.base
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, classify(err, "searching", host, "")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("searching %s: unexpected status %s: %s", host, untrusted.Text(resp.Status), untrusted.Text(firstLine(string(body))))
	}
	var reply struct {
		Results []SearchResult `json:"results"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&reply); err != nil {
		return nil, fmt.Errorf("searching %s: invalid reply: %w", host, err)
	}
	var out []SearchResult
	for _, r := range reply.Results {
		if f.keep(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// SearchCatalog lists a private registry's repositories (GET /v2/_catalog,
// following pagination) whose names contain term, as HOST/REPO rows.
func (c *Client) SearchCatalog(ctx context.Context, host, term string, limit int, f SearchFilter) ([]SearchResult, error) {
	reg, hc, err := c.registry(ctx, host)
	if err != nil {
		return nil, err
	}
	repos, err := remote.Catalog(ctx, reg,
		remote.WithTransport(hc.base),
		remote.WithAuthFromKeychain(c.creds.Keychain()),
		remote.WithUserAgent(c.userAgent))
	if err != nil {
		return nil, classify(err, "searching", host, "")
	}
	sort.Strings(repos)
	term = strings.ToLower(term)
	var out []SearchResult
	for _, r := range repos {
		if !strings.Contains(strings.ToLower(r), term) {
			continue
		}
		row := SearchResult{Name: host + "/" + r}
		if !f.keep(row) {
			continue
		}
		out = append(out, row)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

// Tags lists a repository's tags (for pull --all-tags), sorted.
func (c *Client) Tags(ctx context.Context, repo name.Repository) ([]string, error) {
	r, hc, err := c.repo(ctx, repo)
	if err != nil {
		return nil, classify(err, "listing tags of", repo.RegistryStr(), repo.String())
	}
	tags, err := remote.List(r,
		remote.WithContext(ctx),
		remote.WithTransport(hc.base),
		remote.WithAuthFromKeychain(c.creds.Keychain()),
		remote.WithUserAgent(c.userAgent))
	if err != nil {
		return nil, classify(err, "listing tags of", repo.RegistryStr(), repo.String())
	}
	sort.Strings(tags)
	return tags, nil
}
