package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Settings are berth's registry settings. The file uses Docker daemon.json's
// key names so an existing daemon.json fragment can be reused as is; keys
// berth does not know are ignored, as the daemon would refuse them but berth
// shares the file with other areas.
type Settings struct {
	RegistryMirrors        []string `json:"registry-mirrors,omitempty"`
	InsecureRegistries     []string `json:"insecure-registries,omitempty"`
	MaxConcurrentDownloads int      `json:"max-concurrent-downloads,omitempty"`
	MaxConcurrentUploads   int      `json:"max-concurrent-uploads,omitempty"`
	// ScanDBRepositories are where `berth scan` fetches vulnerability data
	// from, tried in order (trivy's --db-repository list): base URLs of
	// osv.dev-style exports or OCI references of `berth scan db push`.
	ScanDBRepositories []string `json:"scan-db-repository,omitempty"`
}

// Defaults as Docker's daemon has them.
const (
	DefaultMaxConcurrentDownloads = 3
	DefaultMaxConcurrentUploads   = 5
)

// SettingsPath returns $BERTH_CONFIG, else $XDG_CONFIG_HOME/berth/config.json,
// else ~/.config/berth/config.json.
func SettingsPath() string {
	if p := os.Getenv("BERTH_CONFIG"); p != "" {
		return p
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "berth", "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".config", "berth", "config.json")
}

// LoadSettings reads the settings file at path. A missing file gives the
// defaults; a malformed one is an error naming the file.
func LoadSettings(path string) (Settings, error) {
	var s Settings
	if path == "" {
		return s.withDefaults(), nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s.withDefaults(), nil
	}
	if err != nil {
		return s, fmt.Errorf("reading berth settings: %w", err)
	}
	s, err = ParseSettings(data)
	if err != nil {
		return s, fmt.Errorf("reading berth settings %s: %w", path, err)
	}
	return s, nil
}

// ParseSettings decodes and validates a settings document.
func ParseSettings(data []byte) (Settings, error) {
	var s Settings
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("invalid JSON: %w", err)
	}
	for _, m := range s.RegistryMirrors {
		if _, err := mirrorHost(m); err != nil {
			return s, err
		}
	}
	for _, r := range s.InsecureRegistries {
		if strings.TrimSpace(r) == "" || strings.Contains(r, "://") {
			return s, fmt.Errorf("insecure-registries: %s is not a HOST[:PORT] or CIDR", untrusted.Quote(r))
		}
	}
	for _, r := range s.ScanDBRepositories {
		if strings.TrimSpace(r) == "" || strings.ContainsAny(r, " \t\n") {
			return s, fmt.Errorf("scan-db-repository: %s is not a URL or an image reference", untrusted.Quote(r))
		}
	}
	if s.MaxConcurrentDownloads < 0 || s.MaxConcurrentUploads < 0 {
		return s, errors.New("max-concurrent-downloads and max-concurrent-uploads must be positive")
	}
	return s.withDefaults(), nil
}

func (s Settings) withDefaults() Settings {
	if s.MaxConcurrentDownloads == 0 {
		s.MaxConcurrentDownloads = DefaultMaxConcurrentDownloads
	}
	if s.MaxConcurrentUploads == 0 {
		s.MaxConcurrentUploads = DefaultMaxConcurrentUploads
	}
	return s
}

// mirrorHost turns a registry-mirrors entry ("https://mirror.example:5000/")
// into the registry host it names. Like Docker, a mirror must be a bare
// scheme://host[:port] with no path.
func mirrorHost(m string) (string, error) {
	rest, ok := strings.CutPrefix(m, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(m, "http://")
	}
	if !ok {
		return "", fmt.Errorf("registry-mirrors: %s must start with https:// or http://", untrusted.Quote(m))
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" || strings.ContainsAny(rest, "/?#@ ") {
		return "", fmt.Errorf("registry-mirrors: %s must be scheme://host[:port] with no path", untrusted.Quote(m))
	}
	return rest, nil
}

// isInsecure reports whether host (HOST[:PORT]) may be reached over plain
// HTTP and without certificate checks because the user listed it, by name or
// by a CIDR containing its IP.
func (s Settings) isInsecure(host string) bool {
	for _, r := range s.InsecureRegistries {
		if r == host {
			return true
		}
		if _, cidr, err := net.ParseCIDR(r); err == nil {
			h := host
			if hh, _, err := net.SplitHostPort(host); err == nil {
				h = hh
			}
			if ip := net.ParseIP(h); ip != nil && cidr.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// isLoopback reports whether host is localhost or in 127.0.0.0/8 (or ::1),
// where Docker allows plain HTTP without being told.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
