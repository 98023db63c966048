package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/config"
	"github.com/berth-dev/berth/internal/remote"
)

// registryUpstream is the pull-through cache's upstream: berth's own
// registry client, with the user's mirrors, insecure registries, certs.d
// and credential helpers (proxy.username/password when given).
func (a *app) registryUpstream(p config.Proxy) (registry.Upstream, error) {
	c, err := a.newRemoteClient(nil)
	if err != nil {
		return nil, err
	}
	up, err := c.Upstream(p.RemoteURL, p.Username, p.Password)
	if err != nil {
		return nil, fmt.Errorf("proxy.remoteurl: %w", err)
	}
	return upstream{up}, nil
}

// upstream turns the client's "not found" into the registry's, so that a
// client of the cache gets MANIFEST_UNKNOWN or BLOB_UNKNOWN, not a 500.
type upstream struct{ u *remote.Upstream }

func notFound(err error) error {
	if errors.Is(err, remote.ErrNotFound) {
		return fmt.Errorf("%w: %v", registry.ErrUpstreamNotFound, err)
	}
	return err
}

func (u upstream) Manifest(ctx context.Context, repo, ref string) ([]byte, string, error) {
	b, mt, err := u.u.Manifest(ctx, repo, ref)
	return b, mt, notFound(err)
}

func (u upstream) Blob(ctx context.Context, repo, digest string) (io.ReadCloser, error) {
	rc, err := u.u.Blob(ctx, repo, digest)
	return rc, notFound(err)
}

func (u upstream) Tags(ctx context.Context, repo string) ([]string, error) {
	tags, err := u.u.Tags(ctx, repo)
	return tags, notFound(err)
}
