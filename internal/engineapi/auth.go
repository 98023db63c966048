package engineapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/remote"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
)

// maxAuthHeader bounds a credentials header: a few registries' tokens fit
// many times over, and net/http's own header limit applies first anyway.
const maxAuthHeader = 64 << 10

// decodeBase64 reads the base64url the docker CLI and docker-py send, and
// the standard alphabet some older clients use, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("must be a valid base64url-encoded string")
}

// registryAuth decodes X-Registry-Auth (pull, push, search): one AuthConfig
// as base64url JSON. An empty header, or "{}", is no credential.
func registryAuth(header string) (*registry.AuthConfig, error) {
	if header == "" {
		return &registry.AuthConfig{}, nil
	}
	if len(header) > maxAuthHeader {
		return nil, badRequest(errors.New("invalid X-Registry-Auth header: too large"))
	}
	if ac, err := authconfig.Decode(header); err == nil {
		return ac, nil
	}
	raw, err := decodeBase64(header)
	if err != nil {
		return nil, badRequest(fmt.Errorf("invalid X-Registry-Auth header: %w", err))
	}
	ac := &registry.AuthConfig{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return ac, nil
	}
	if err := json.Unmarshal(raw, ac); err != nil {
		return nil, badRequest(fmt.Errorf("invalid X-Registry-Auth header: invalid JSON: %w", err))
	}
	return ac, nil
}

// registryConfig decodes X-Registry-Config (build): a map from registry
// to AuthConfig, base64url JSON. Older clients wrap it in {"configs": …}.
func registryConfig(header string) (map[string]registry.AuthConfig, error) {
	out := map[string]registry.AuthConfig{}
	if header == "" {
		return out, nil
	}
	if len(header) > maxAuthHeader {
		return nil, badRequest(errors.New("invalid X-Registry-Config header: too large"))
	}
	raw, err := decodeBase64(header)
	if err != nil {
		return nil, badRequest(fmt.Errorf("invalid X-Registry-Config header: %w", err))
	}
	var wrapped struct {
		Configs map[string]registry.AuthConfig `json:"configs"`
	}
	if err := json.Unmarshal(raw, &wrapped); err == nil && wrapped.Configs != nil {
		return wrapped.Configs, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, badRequest(fmt.Errorf("invalid X-Registry-Config header: invalid JSON: %w", err))
	}
	return out, nil
}

// authEntry converts the wire credential to remote's. "auth" is the
// base64 "user:password" config.json keeps, which some clients forward as
// it is.
func authEntry(ac registry.AuthConfig) remote.AuthEntry {
	e := remote.AuthEntry{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
	if e.Username == "" && e.Password == "" && ac.Auth != "" {
		if b, err := decodeBase64(ac.Auth); err == nil {
			if u, p, ok := strings.Cut(string(b), ":"); ok {
				e.Username, e.Password = u, p
			}
		}
	}
	return e
}

// credentialsFor builds the fixed credential map of one request: the single
// X-Registry-Auth entry applies to host (the registry the request names);
// X-Registry-Config entries apply to the registries they are keyed by.
func credentialsFor(host string, single *registry.AuthConfig, many map[string]registry.AuthConfig) map[string]remote.AuthEntry {
	out := map[string]remote.AuthEntry{}
	for k, ac := range many {
		if e := authEntry(ac); !e.Empty() {
			out[remote.ConfigHost(k)] = e
		}
	}
	if single != nil {
		if e := authEntry(*single); !e.Empty() {
			h := host
			if single.ServerAddress != "" && host == "" {
				h = single.ServerAddress
			}
			out[remote.ConfigHost(h)] = e
		}
	}
	return out
}
