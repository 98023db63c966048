package cli

import (
	"fmt"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/config"
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
	return up, nil
}
