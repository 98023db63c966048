package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrNotFound is what an Upstream's errors wrap when the registry answered
// that it does not have the manifest, blob or repository. Its NotFound
// method is how a pull-through cache (internal/registry) tells it from an
// upstream that did not answer, without either package importing the other.
var ErrNotFound error = upstreamNotFound{}

type upstreamNotFound struct{}

func (upstreamNotFound) Error() string  { return "not found in the upstream registry" }
func (upstreamNotFound) NotFound() bool { return true }

// Upstream reads one registry through the client and all of its settings
// (registry-mirrors for Docker Hub, insecure-registries, certs.d, the
// credential store and helpers, berth's Bearer rules): what a pull-through
// cache fills itself from.
type Upstream struct {
	c    *Client
	host string
	auth authn.Authenticator // nil: the user's credential store
}

// Upstream returns the registry at remoteURL (registry:2's
// proxy.remoteurl) as an Upstream. user and pass, when given, are used
// instead of the credential store. An http:// URL may be spoken to in plain
// HTTP, as if it were in insecure-registries.
func (c *Client) Upstream(remoteURL, user, pass string) (*Upstream, error) {
	u, err := url.Parse(remoteURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("upstream URL %s is not a URL", untrusted.Quote(remoteURL))
	}
	host := u.Host
	// Docker Hub's registry host is index.docker.io to go-containerregistry
	// and to the mirror rules.
	if host == "registry-1.docker.io" || host == "docker.io" {
		host = name.DefaultRegistry
	}
	if u.Scheme == "http" && !c.settings.isInsecure(host) {
		c.settings.InsecureRegistries = append(c.settings.InsecureRegistries, host)
	}
	up := &Upstream{c: c, host: host}
	if user != "" {
		up.auth = authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})
	}
	return up, nil
}

func (u *Upstream) repos(repo string) ([]name.Repository, error) {
	r, err := name.NewRepository(u.host+"/"+repo, name.WeakValidation)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return u.c.candidates(r), nil
}

// each tries fn on every mirror, then on the upstream itself, and returns
// the first success or the upstream's own error.
func (u *Upstream) each(ctx context.Context, repo string, fn func(f *repoFetcher) error) error {
	repos, err := u.repos(repo)
	if err != nil {
		return err
	}
	var last error
	for i, r := range repos {
		rt, scheme, err := u.c.authTransportWith(ctx, r, u.auth, transport.PullScope)
		if err == nil {
			f := &repoFetcher{client: &http.Client{Transport: rt}, base: fmt.Sprintf("%s://%s/v2/%s", scheme, r.RegistryStr(), r.RepositoryStr())}
			err = fn(f)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
		if i < len(repos)-1 {
			u.c.log.Debug("mirror failed", "registry", r.RegistryStr(), "err", err)
		}
	}
	return upstreamErr(last)
}

// Manifest fetches repo's manifest by tag or digest: its bytes and media
// type (a digest reference is checked against the bytes).
func (u *Upstream) Manifest(ctx context.Context, repo, ref string) ([]byte, string, error) {
	var raw []byte
	var mt string
	err := u.each(ctx, repo, func(f *repoFetcher) error {
		b, d, err := f.manifest(ctx, ref)
		raw, mt = b, string(d.MediaType)
		return err
	})
	return raw, mt, err
}

// Blob opens repo's blob; the caller verifies the digest.
func (u *Upstream) Blob(ctx context.Context, repo, digest string) (io.ReadCloser, error) {
	var body io.ReadCloser
	err := u.each(ctx, repo, func(f *repoFetcher) error {
		resp, err := f.getOK(ctx, f.base+"/blobs/"+digest)
		if err != nil {
			return err
		}
		body = resp.Body
		return nil
	})
	return body, err
}

// getOK GETs u and fails unless the registry answers 200.
func (f *repoFetcher) getOK(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// Tags lists repo's tags, sorted, following the registry's pagination.
func (u *Upstream) Tags(ctx context.Context, repo string) ([]string, error) {
	var tags []string
	err := u.each(ctx, repo, func(f *repoFetcher) error {
		tags = nil
		next, err := url.Parse(f.base + "/tags/list")
		if err != nil {
			return err
		}
		for page := 0; next != nil; page++ {
			if page == 1000 {
				return errors.New("tag list has more than 1000 pages")
			}
			resp, err := f.getOK(ctx, next.String())
			if err != nil {
				return err
			}
			var body struct {
				Tags []string `json:"tags"`
			}
			err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body)
			resp.Body.Close()
			if err != nil {
				return fmt.Errorf("decoding tag list: %w", err)
			}
			tags = append(tags, body.Tags...)
			next = nextLink(next, resp.Header.Get("Link"))
		}
		return nil
	})
	sort.Strings(tags)
	return tags, err
}

// nextLink resolves a Link: <...>; rel="next" header against the URL asked.
func nextLink(cur *url.URL, link string) *url.URL {
	target, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(link), "<"), ">")
	if !ok || !strings.Contains(rest, `rel="next"`) {
		return nil
	}
	u, err := cur.Parse(target)
	if err != nil || u.Host != cur.Host {
		return nil
	}
	return u
}

// upstreamErr marks the registry's "no such thing" answers with ErrNotFound.
func upstreamErr(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}
