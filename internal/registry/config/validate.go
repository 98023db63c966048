package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// MinPartSize is the smallest non-final part S3 accepts in a multipart
// upload; storage.s3.chunksize may not be smaller.
const MinPartSize = 5 << 20

// validate checks the values of keys berth acts on and fills the derived
// ones (log.level from the deprecated loglevel, a clean http.prefix).
func (c *Config) validate() error {
	if c.Version != "" && c.Version != "0.1" {
		return fmt.Errorf("version: %q is not a configuration version berth reads (0.1)", c.Version)
	}
	if c.Log.Level == "" {
		c.Log.Level = c.Loglevel
	}
	c.Log.Level = strings.ToLower(c.Log.Level)
	switch c.Log.Level {
	case "", "error", "warn", "info", "debug":
	default:
		return fmt.Errorf("log.level: %q: want error, warn, info or debug", c.Log.Level)
	}
	switch c.Log.Formatter {
	case "", "text", "json":
	case "logstash":
		return errors.New("log.formatter: logstash is not supported; json gives one JSON object per line")
	default:
		return fmt.Errorf("log.formatter: %q: want text or json", c.Log.Formatter)
	}
	if err := c.validateHTTP(); err != nil {
		return err
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	if s3 := c.Storage.S3; s3 != nil {
		if s3.Bucket == "" {
			return errors.New("storage.s3.bucket: a bucket is required (REGISTRY_STORAGE_S3_BUCKET, --s3-bucket)")
		}
		if s3.ChunkSize != 0 && s3.ChunkSize < MinPartSize {
			return fmt.Errorf("storage.s3.chunksize: %d is below S3's 5 MiB minimum part size (%d)", s3.ChunkSize, MinPartSize)
		}
		if s3.ChunkSize > 5<<30 {
			return fmt.Errorf("storage.s3.chunksize: %d is above S3's 5 GiB maximum part size", s3.ChunkSize)
		}
		if s3.MultipartCopyChunkSize != 0 && (s3.MultipartCopyChunkSize < MinPartSize || s3.MultipartCopyChunkSize > 5<<30) {
			return fmt.Errorf("storage.s3.multipartcopychunksize: %d is outside S3's part sizes (5 MiB to 5 GiB)", s3.MultipartCopyChunkSize)
		}
		if s3.RegionEndpoint != "" {
			if _, err := EndpointURL(s3); err != nil {
				return err
			}
		}
		switch strings.ToLower(s3.ObjectACL) {
		case "", "private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control":
		default:
			return fmt.Errorf("storage.s3.objectacl: %q is not a canned ACL", s3.ObjectACL)
		}
		if strings.Contains(strings.Trim(s3.RootDirectory, "/"), "//") {
			return fmt.Errorf("storage.s3.rootdirectory: %q has an empty path segment", s3.RootDirectory)
		}
	}
	if c.Proxy.RemoteURL != "" {
		if u, err := url.Parse(c.Proxy.RemoteURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("proxy.remoteurl: %q is not an http(s) URL (for Docker Hub: https://registry-1.docker.io)", c.Proxy.RemoteURL)
		}
	}
	for i, e := range c.Notifications.Endpoints {
		where := fmt.Sprintf("notifications.endpoints[%d]", i)
		if e.Name == "" {
			return fmt.Errorf("%s.name: every endpoint needs a name", where)
		}
		if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%s.url: %q is not an http(s) URL", where, e.URL)
		}
		for _, a := range e.Ignore.Actions {
			switch a {
			case "pull", "push", "mount", "delete":
			default:
				return fmt.Errorf("%s.ignore.actions: %q: want pull, push, mount or delete", where, a)
			}
		}
	}
	for _, l := range [][]string{c.Validation.Manifests.URLs.Allow, c.Validation.Manifests.URLs.Deny} {
		for _, re := range l {
			if _, err := regexp.Compile(re); err != nil {
				return fmt.Errorf("validation.manifests.urls: %q is not a regular expression: %v", re, err)
			}
		}
	}
	switch strings.ToLower(c.Validation.Manifests.Indexes.Platforms) {
	case "", "all", "none", "list":
	default:
		return fmt.Errorf("validation.manifests.indexes.platforms: %q: want all, none or list", c.Validation.Manifests.Indexes.Platforms)
	}
	for i, h := range c.Health.HTTP {
		if u, err := url.Parse(h.URI); err != nil || u.Host == "" {
			return fmt.Errorf("health.http[%d].uri: %q is not a URL", i, h.URI)
		}
	}
	for i, f := range c.Health.File {
		if f.File == "" {
			return fmt.Errorf("health.file[%d].file: a path is required", i)
		}
	}
	for i, t := range c.Health.TCP {
		if t.Addr == "" {
			return fmt.Errorf("health.tcp[%d].addr: an address is required", i)
		}
	}
	if c.Catalog.MaxEntries < 0 {
		return errors.New("catalog.maxentries: must not be negative")
	}
	if c.Tags.MaxTags < 0 {
		return errors.New("tags.maxtags: must not be negative")
	}
	return nil
}

func (c *Config) validateHTTP() error {
	h := &c.HTTP
	switch h.Net {
	case "", "tcp", "tcp4", "tcp6", "unix":
	default:
		return fmt.Errorf("http.net: %q: want tcp, tcp4, tcp6 or unix", h.Net)
	}
	if h.Prefix != "" {
		p := "/" + strings.Trim(h.Prefix, "/")
		if p == "/" {
			p = ""
		}
		h.Prefix = p
	}
	if h.Host != "" {
		if u, err := url.Parse(h.Host); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("http.host: %q: want a URL such as https://registry.example.com", h.Host)
		}
	}
	if (h.TLS.Certificate == "") != (h.TLS.Key == "") {
		return errors.New("http.tls: certificate and key go together")
	}
	switch h.TLS.ClientAuth {
	case "", "request-client-cert", "require-any-client-cert", "verify-client-cert-if-given", "require-and-verify-client-cert":
	default:
		return fmt.Errorf("http.tls.clientauth: %q is not one of registry:2's modes", h.TLS.ClientAuth)
	}
	if _, err := TLSVersion(h.TLS.MinimumTLS); err != nil {
		return err
	}
	if _, err := CipherSuites(h.TLS.CipherSuites); err != nil {
		return err
	}
	if h.Debug.Prometheus.Path != "" && !strings.HasPrefix(h.Debug.Prometheus.Path, "/") {
		return fmt.Errorf("http.debug.prometheus.path: %q must begin with /", h.Debug.Prometheus.Path)
	}
	return nil
}

func (c *Config) validateAuth() error {
	if t := c.Auth.Token; t != nil {
		if t.Realm == "" || t.Service == "" || t.Issuer == "" || t.RootCertBundle == "" {
			return errors.New("auth.token: token auth needs realm, service, issuer and rootcertbundle (REGISTRY_AUTH_TOKEN_REALM, _SERVICE, _ISSUER, _ROOTCERTBUNDLE)")
		}
	}
	if h := c.Auth.Htpasswd; h != nil && h.Path == "" {
		return errors.New("auth.htpasswd.path: htpasswd auth needs a file (REGISTRY_AUTH_HTPASSWD_PATH); make one with `berth registry htpasswd -Bc FILE USER`")
	}
	return nil
}

// TLSVersion maps http.tls.minimumtls to crypto/tls's constant (default 1.2).
func TLSVersion(s string) (uint16, error) {
	switch strings.ToLower(s) {
	case "", "tls1.2":
		return tls.VersionTLS12, nil
	case "tls1.0":
		return tls.VersionTLS10, nil
	case "tls1.1":
		return tls.VersionTLS11, nil
	case "tls1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("http.tls.minimumtls: %q: want tls1.0, tls1.1, tls1.2 or tls1.3", s)
}

// CipherSuites maps http.tls.ciphersuites names to crypto/tls's IDs.
func CipherSuites(names []string) ([]uint16, error) {
	if len(names) == 0 {
		return nil, nil
	}
	byName := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s.ID
	}
	var ids []uint16
	for _, n := range names {
		id, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("http.tls.ciphersuites: %q is not a secure cipher suite Go knows", n)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// EndpointURL is storage.s3.regionendpoint as a URL; without a scheme it
// gets https, or http when storage.s3.secure is false (distribution's rule).
func EndpointURL(s3 *S3) (string, error) {
	ep := s3.RegionEndpoint
	if ep == "" {
		return "", nil
	}
	if !strings.Contains(ep, "://") {
		if s3.Secure != nil && !*s3.Secure {
			ep = "http://" + ep
		} else {
			ep = "https://" + ep
		}
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("storage.s3.regionendpoint: %q is not a host or an http(s) URL", s3.RegionEndpoint)
	}
	return u.String(), nil
}

// URLRegexps are validation.manifests.urls as registry:2 applies them:
// each list joined into one expression of alternatives; with validation in
// force and neither list, nothing is allowed. ok is false when the rule
// does not apply (no validation section, or validation disabled).
func (c *Config) URLRegexps() (allow, deny *regexp.Regexp, ok bool) {
	v := c.Validation
	if !v.Present || (v.Disabled && !v.Enabled) {
		return nil, nil, false
	}
	join := func(l []string) *regexp.Regexp {
		if len(l) == 0 {
			return nil
		}
		parts := make([]string, len(l))
		for i, s := range l {
			parts[i] = "(?:" + s + ")"
		}
		return regexp.MustCompile(strings.Join(parts, "|"))
	}
	return join(v.Manifests.URLs.Allow), join(v.Manifests.URLs.Deny), true
}

// IndexPlatforms is validation.manifests.indexes: "" when berth's own rule
// (sparse indexes) applies, else all, none or list with the os/arch list.
func (c *Config) IndexPlatforms() (string, []string) {
	v := c.Validation
	if !v.Present || (v.Disabled && !v.Enabled) {
		return "", nil
	}
	p := strings.ToLower(v.Manifests.Indexes.Platforms)
	if p == "" {
		p = "all"
	}
	var list []string
	for _, pl := range v.Manifests.Indexes.PlatformList {
		list = append(list, pl.OS+"/"+pl.Architecture)
	}
	return p, list
}
