package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
)

// ErrNoCredentials is returned by a credential helper lookup that found
// nothing for the server.
var ErrNoCredentials = errors.New("no credentials")

// tokenUser is the user name a credential helper returns when the secret is
// an identity token rather than a password (docker-credential-helpers'
// convention).
const tokenUser = "<token>"

// helperMsg is the JSON exchanged with docker-credential-* programs.
type helperMsg struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

// runHelper runs docker-credential-NAME ACTION with input on stdin.
func runHelper(ctx context.Context, helper, action string, input []byte) ([]byte, error) {
	prog := "docker-credential-" + helper
	cmd := exec.CommandContext(ctx, prog, action)
	cmd.Stdin = bytes.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("credential helper %s not found in PATH", prog)
		}
		msg := strings.TrimSpace(out.String() + " " + errb.String())
		// docker-credential-helpers prints this exact text for a missing entry.
		if strings.Contains(msg, "credentials not found") {
			return nil, ErrNoCredentials
		}
		return nil, fmt.Errorf("credential helper %s %s: %s", prog, action, firstLine(cmp(msg, err.Error())))
	}
	return out.Bytes(), nil
}

func cmp(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Credentials resolves, stores and erases registry credentials the way the
// Docker CLI does, over one config.json directory.
type Credentials struct {
	Dir string // the directory of config.json ($DOCKER_CONFIG or ~/.docker)

	// Fixed, when not nil, is the only source of credentials, keyed by
	// registry (any spelling ConfigHost understands): config.json and its
	// helpers are neither read nor written. The Engine API server uses it
	// for the credentials a client sends with each request, as the Docker
	// daemon never reads the caller's config.json.
	Fixed map[string]AuthEntry

	mu sync.Mutex
}

// Get returns the credential for server (a host or Hub's URL). A server with
// no credential gives an empty entry and no error.
func (c *Credentials) Get(ctx context.Context, server string) (AuthEntry, error) {
	if c.Fixed != nil {
		return c.fixed(server), nil
	}
	cfg, err := LoadDockerConfig(c.Dir)
	if err != nil {
		return AuthEntry{}, err
	}
	if h := cfg.helperFor(server); h != "" {
		e, err := helperGet(ctx, h, ServerKey(server))
		if errors.Is(err, ErrNoCredentials) {
			// Docker also falls back to the file for entries written
			// before the helper was configured.
			e, _ := cfg.lookupFile(server)
			return e, nil
		}
		return e, err
	}
	e, _ := cfg.lookupFile(server)
	return e, nil
}

func (c *Credentials) fixed(server string) AuthEntry {
	if e, ok := c.Fixed[server]; ok {
		return e
	}
	host := ConfigHost(server)
	for k, e := range c.Fixed {
		if ConfigHost(k) == host {
			return e
		}
	}
	return AuthEntry{}
}

// errFixed refuses to change credentials that came with a request.
var errFixed = errors.New("credentials given with the request are not stored")

func helperGet(ctx context.Context, helper, server string) (AuthEntry, error) {
	out, err := runHelper(ctx, helper, "get", []byte(server))
	if err != nil {
		return AuthEntry{}, err
	}
	var m helperMsg
	if err := json.Unmarshal(out, &m); err != nil {
		return AuthEntry{}, fmt.Errorf("credential helper docker-credential-%s: invalid reply: %w", helper, err)
	}
	if m.Username == tokenUser {
		return AuthEntry{IdentityToken: m.Secret}, nil
	}
	return AuthEntry{Username: m.Username, Password: m.Secret}, nil
}

// Store saves e for server: in the credential helper when one is configured
// (keeping an empty "auths" entry as Docker does), else base64-encoded in
// config.json. It reports where the secret went (the helper's name, or "").
func (c *Credentials) Store(ctx context.Context, server string, e AuthEntry) (helper string, err error) {
	if c.Fixed != nil {
		return "", errFixed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	unlock, err := lockDir(c.Dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	cfg, err := LoadDockerConfig(c.Dir)
	if err != nil {
		return "", err
	}
	key := ServerKey(server)
	cfg.removeFile(server)
	if h := cfg.helperFor(server); h != "" {
		m := helperMsg{ServerURL: key, Username: e.Username, Secret: e.Password}
		if e.IdentityToken != "" {
			m.Username, m.Secret = tokenUser, e.IdentityToken
		}
		in, _ := json.Marshal(m)
		if _, err := runHelper(ctx, h, "store", in); err != nil {
			return "", err
		}
		cfg.Auths[key] = authJSON{}
		return h, cfg.Save()
	}
	a := authJSON{IdentityToken: e.IdentityToken}
	if e.IdentityToken == "" {
		a.Auth = encodeAuth(e.Username, e.Password)
	} else {
		a.Username = e.Username
	}
	cfg.Auths[key] = a
	return "", cfg.Save()
}

// Erase removes server's credential from the helper and the file. It reports
// whether there was anything to remove.
func (c *Credentials) Erase(ctx context.Context, server string) (bool, error) {
	if c.Fixed != nil {
		return false, errFixed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := os.Stat(filepath.Join(c.Dir, "config.json")); err != nil {
		return false, nil
	}
	unlock, err := lockDir(c.Dir)
	if err != nil {
		return false, err
	}
	defer unlock()
	cfg, err := LoadDockerConfig(c.Dir)
	if err != nil {
		return false, err
	}
	found := cfg.removeFile(server)
	if h := cfg.helperFor(server); h != "" {
		_, err := runHelper(ctx, h, "erase", []byte(ServerKey(server)))
		switch {
		case err == nil:
			found = true
		case errors.Is(err, ErrNoCredentials):
		default:
			return found, err
		}
	}
	if !found {
		return false, nil
	}
	return true, cfg.Save()
}

// Keychain adapts Credentials to go-containerregistry's authn.Keychain.
func (c *Credentials) Keychain() authn.Keychain { return keychain{c} }

type keychain struct{ c *Credentials }

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

func (k keychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	e, err := k.c.Get(ctx, r.RegistryStr())
	if err != nil {
		return nil, err
	}
	if e.Empty() {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      e.Username,
		Password:      e.Password,
		IdentityToken: e.IdentityToken,
		RegistryToken: e.RegistryToken,
	}), nil
}
