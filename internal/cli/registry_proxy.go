package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	gremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registryUpstream is the registry a pull-through cache fetches from,
// reached with go-containerregistry's client (the same wire code as berth
// pull), with registry:2's proxy.username/password when given.
type registryUpstream struct {
	host     string
	nameOpts []name.Option
	opts     []gremote.Option
}

func newRegistryUpstream(p proxySettings) (*registryUpstream, error) {
	u, err := url.Parse(p.RemoteURL)
	if err != nil {
		return nil, fmt.Errorf("proxy remote URL: %w", err)
	}
	up := &registryUpstream{host: u.Host, nameOpts: []name.Option{name.WeakValidation}}
	if u.Scheme == "http" {
		up.nameOpts = append(up.nameOpts, name.Insecure)
	}
	auth := authn.Anonymous
	if p.Username != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: p.Username, Password: p.Password})
	}
	up.opts = []gremote.Option{gremote.WithAuth(auth), gremote.WithUserAgent("berth-registry-proxy/" + berthVersion())}
	return up, nil
}

func (u *registryUpstream) ref(repo, ref string) (name.Reference, error) {
	if strings.Contains(ref, ":") {
		return name.NewDigest(u.host+"/"+repo+"@"+ref, u.nameOpts...)
	}
	return name.NewTag(u.host+"/"+repo+":"+ref, u.nameOpts...)
}

func (u *registryUpstream) Manifest(ctx context.Context, repo, ref string) ([]byte, string, error) {
	r, err := u.ref(repo, ref)
	if err != nil {
		return nil, "", err
	}
	desc, err := gremote.Get(r, append(u.opts, gremote.WithContext(ctx))...)
	if err != nil {
		return nil, "", upstreamErr(err)
	}
	return desc.Manifest, string(desc.MediaType), nil
}

func (u *registryUpstream) Blob(ctx context.Context, repo, digest string) (io.ReadCloser, error) {
	r, err := name.NewDigest(u.host+"/"+repo+"@"+digest, u.nameOpts...)
	if err != nil {
		return nil, err
	}
	l, err := gremote.Layer(r, append(u.opts, gremote.WithContext(ctx))...)
	if err != nil {
		return nil, upstreamErr(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, upstreamErr(err)
	}
	return rc, nil
}

func (u *registryUpstream) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := name.NewRepository(u.host+"/"+repo, u.nameOpts...)
	if err != nil {
		return nil, err
	}
	tags, err := gremote.List(r, append(u.opts, gremote.WithContext(ctx))...)
	if err != nil {
		return nil, upstreamErr(err)
	}
	return tags, nil
}

// upstreamErr marks the upstream's "no such thing" so the client gets the
// registry's own unknown error, not a 500.
func upstreamErr(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %v", registry.ErrUpstreamNotFound, err)
	}
	return err
}
