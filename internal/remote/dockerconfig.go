package remote

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
)

// HubServer is the key Docker uses for Docker Hub in config.json and with
// credential helpers.
const HubServer = "https://index.docker.io/v1/"

// DockerConfigDir returns $DOCKER_CONFIG, else ~/.docker.
func DockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".docker"
	}
	return filepath.Join(home, ".docker")
}

// AuthEntry is one credential: a user name and password, or an identity
// (refresh) token, or a registry (access) token.
type AuthEntry struct {
	Username      string
	Password      string
	IdentityToken string
	RegistryToken string
}

// Empty reports whether the entry holds no credential at all.
func (e AuthEntry) Empty() bool {
	return e.Username == "" && e.Password == "" && e.IdentityToken == "" && e.RegistryToken == ""
}

// authJSON is an "auths" entry as Docker writes it.
type authJSON struct {
	Auth          string `json:"auth,omitempty"`
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
	Email         string `json:"email,omitempty"`
}

// DockerConfig is Docker's client config.json. Only the keys about
// registries are interpreted; every other key is kept byte for byte so that
// rewriting the file never loses another tool's settings.
type DockerConfig struct {
	Path        string
	Auths       map[string]authJSON
	CredsStore  string
	CredHelpers map[string]string
	other       map[string]json.RawMessage
}

// LoadDockerConfig reads dir/config.json; a missing file is an empty config.
func LoadDockerConfig(dir string) (*DockerConfig, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &DockerConfig{Path: path, Auths: map[string]authJSON{}, CredHelpers: map[string]string{}, other: map[string]json.RawMessage{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading docker config: %w", err)
	}
	c, err := ParseDockerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("reading docker config %s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// ParseDockerConfig decodes a config.json document. An empty document is an
// empty config, as Docker treats it.
func ParseDockerConfig(data []byte) (*DockerConfig, error) {
	c := &DockerConfig{Auths: map[string]authJSON{}, CredHelpers: map[string]string{}, other: map[string]json.RawMessage{}}
	if len(strings.TrimSpace(string(data))) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(data, &c.other); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if c.other == nil {
		c.other = map[string]json.RawMessage{}
	}
	if raw, ok := c.other["auths"]; ok {
		if err := json.Unmarshal(raw, &c.Auths); err != nil {
			return nil, fmt.Errorf("invalid \"auths\": %w", err)
		}
		if c.Auths == nil {
			c.Auths = map[string]authJSON{}
		}
		for k, a := range c.Auths {
			if a.Auth == "" {
				continue
			}
			if _, _, err := decodeAuth(a.Auth); err != nil {
				return nil, fmt.Errorf("invalid \"auth\" for %s: %w", k, err)
			}
		}
	}
	if raw, ok := c.other["credsStore"]; ok {
		if err := json.Unmarshal(raw, &c.CredsStore); err != nil {
			return nil, fmt.Errorf("invalid \"credsStore\": %w", err)
		}
	}
	if raw, ok := c.other["credHelpers"]; ok {
		if err := json.Unmarshal(raw, &c.CredHelpers); err != nil {
			return nil, fmt.Errorf("invalid \"credHelpers\": %w", err)
		}
		if c.CredHelpers == nil {
			c.CredHelpers = map[string]string{}
		}
	}
	for _, h := range append(mapValues(c.CredHelpers), c.CredsStore) {
		if strings.ContainsAny(h, "/\\ \x00") {
			return nil, fmt.Errorf("invalid credential helper name %s", untrusted.Quote(h))
		}
	}
	return c, nil
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Marshal encodes the config with Docker's indentation, keeping unknown keys.
func (c *DockerConfig) Marshal() ([]byte, error) {
	doc := make(map[string]json.RawMessage, len(c.other)+3)
	for k, v := range c.other {
		doc[k] = v
	}
	set := func(key string, v any, empty bool) error {
		if empty {
			delete(doc, key)
			return nil
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		doc[key] = raw
		return nil
	}
	// Docker always writes "auths", even empty.
	if err := set("auths", c.Auths, false); err != nil {
		return nil, err
	}
	if err := set("credsStore", c.CredsStore, c.CredsStore == ""); err != nil {
		return nil, err
	}
	if err := set("credHelpers", c.CredHelpers, len(c.CredHelpers) == 0); err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "\t")
}

// Save writes the config atomically with mode 0600, creating its directory.
func (c *DockerConfig) Save() error {
	data, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("encoding docker config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o700); err != nil {
		return fmt.Errorf("saving docker config: %w", err)
	}
	if err := fsutil.WriteFileAtomic(c.Path, data, 0o600); err != nil {
		return fmt.Errorf("saving docker config: %w", err)
	}
	return nil
}

// helperFor names the credential helper program for server, if any:
// credHelpers by host first, then credsStore.
func (c *DockerConfig) helperFor(server string) string {
	host := ConfigHost(server)
	if h, ok := c.CredHelpers[host]; ok && h != "" {
		return h
	}
	// Keys may be spelled as URLs or as Hub's aliases ("docker.io").
	for k, h := range c.CredHelpers {
		if h != "" && ConfigHost(k) == host {
			return h
		}
	}
	return c.CredsStore
}

// ConfigHost reduces a config.json key or server address to the registry
// host as Docker does ("https://host:5000/v1/" -> "host:5000"). Docker Hub's
// aliases become index.docker.io.
func ConfigHost(key string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	switch s {
	case "docker.io", "registry-1.docker.io", "index.docker.io":
		return "index.docker.io"
	}
	return s
}

// ServerKey is the config.json key and helper server URL berth uses for a
// registry host: Docker Hub's legacy URL for Hub, the bare host otherwise,
// which is what Docker and skopeo write.
func ServerKey(host string) string {
	if ConfigHost(host) == "index.docker.io" {
		return HubServer
	}
	return ConfigHost(host)
}

// lookupFile finds the "auths" entry for server, matching keys the way
// Docker does (exact key first, then by host).
func (c *DockerConfig) lookupFile(server string) (AuthEntry, bool) {
	if a, ok := c.Auths[server]; ok {
		return a.entry(), true
	}
	host := ConfigHost(server)
	for k, a := range c.Auths {
		if ConfigHost(k) == host {
			return a.entry(), true
		}
	}
	return AuthEntry{}, false
}

func (a authJSON) entry() AuthEntry {
	e := AuthEntry{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
	if a.Auth != "" {
		if u, p, err := decodeAuth(a.Auth); err == nil {
			e.Username, e.Password = u, p
		}
	}
	return e
}

// removeFile deletes every "auths" key that names server's host and reports
// whether there was one.
func (c *DockerConfig) removeFile(server string) bool {
	host := ConfigHost(server)
	found := false
	for k := range c.Auths {
		if k == server || ConfigHost(k) == host {
			delete(c.Auths, k)
			found = true
		}
	}
	return found
}

func encodeAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func decodeAuth(s string) (string, string, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", errors.New("not base64")
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("not USER:PASSWORD")
	}
	return u, strings.Trim(p, "\x00"), nil
}

// Hosts lists the registries the config holds logins or credential helpers
// for, as hosts (Docker Hub as docker.io), sorted: what shell completion
// offers before an image name.
func (c *DockerConfig) Hosts() []string {
	seen := map[string]bool{}
	var out []string
	add := func(key string) {
		h := ConfigHost(key)
		if h == "index.docker.io" {
			h = "docker.io"
		}
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for k := range c.Auths {
		add(k)
	}
	for k := range c.CredHelpers {
		add(k)
	}
	sort.Strings(out)
	return out
}
