package config

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// registry2Default is the config.yml inside the registry:2 image: it must
// load whole.
const registry2Default = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   []string
		check func(t *testing.T, c *Config)
		err   string
	}{
		{name: "registry:2's own config", yaml: registry2Default, check: func(t *testing.T, c *Config) {
			if c.Storage.Filesystem.RootDirectory != "/var/lib/registry" || c.HTTP.Addr != ":5000" || c.Log.Fields["service"] != "registry" {
				t.Errorf("%+v", c)
			}
			if got := c.HTTP.Headers.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("headers %v", c.HTTP.Headers)
			}
			if !c.Health.StorageDriver.Enabled || c.Health.StorageDriver.Interval != 10*time.Second || c.Health.StorageDriver.Threshold != 3 {
				t.Errorf("health %+v", c.Health)
			}
			if c.StorageDriver() != "filesystem" || !c.DeleteEnabled() {
				t.Errorf("driver %s delete %v", c.StorageDriver(), c.DeleteEnabled())
			}
		}},
		{name: "empty", yaml: "", check: func(t *testing.T, c *Config) {
			if c.StorageDriver() != "filesystem" || c.HTTP.Addr != "" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "REGISTRY_STORAGE=s3 over a filesystem file", yaml: registry2Default, env: []string{
			"REGISTRY_STORAGE=s3", "REGISTRY_STORAGE_S3_BUCKET=reg", "REGISTRY_STORAGE_S3_REGION=us-east-1",
			"REGISTRY_STORAGE_S3_REGIONENDPOINT=127.0.0.1:8333", "REGISTRY_STORAGE_S3_SECURE=false",
			"REGISTRY_STORAGE_S3_FORCEPATHSTYLE=true", "REGISTRY_STORAGE_S3_ACCESSKEY=ak", "REGISTRY_STORAGE_S3_SECRETKEY=123",
			"REGISTRY_STORAGE_S3_ROOTDIRECTORY=/reg", "REGISTRY_STORAGE_S3_CHUNKSIZE=10485760",
		}, check: func(t *testing.T, c *Config) {
			s := c.Storage.S3
			if c.StorageDriver() != "s3" || c.Storage.Filesystem != nil || s.Bucket != "reg" || !s.ForcePathStyle || s.SecretKey != "123" || s.ChunkSize != 10<<20 || s.RootDirectory != "/reg" {
				t.Fatalf("%+v %+v", c.Storage, s)
			}
			if ep, _ := EndpointURL(s); ep != "http://127.0.0.1:8333" {
				t.Errorf("endpoint %s", ep)
			}
		}},
		{name: "storage.s3 block", yaml: "storage:\n  s3: {bucket: b, region: eu-west-1, chunksize: 5242880, v4auth: true, loglevel: 'off'}\n  redirect: {disable: true}\n", check: func(t *testing.T, c *Config) {
			if c.Storage.S3.Region != "eu-west-1" || !c.Storage.Redirect.Disable {
				t.Errorf("%+v", c.Storage)
			}
		}},
		{name: "env over file, any case", yaml: "HTTP:\n  Addr: :6000\n", env: []string{"REGISTRY_HTTP_ADDR=127.0.0.1:7000", "REGISTRY_HTTP_PREFIX=/reg/", "REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS=DENY", "REGISTRY_LOG_FIELDS_ENV=prod"}, check: func(t *testing.T, c *Config) {
			if c.HTTP.Addr != "127.0.0.1:7000" || c.HTTP.Prefix != "/reg" || c.HTTP.Headers.Get("X-Frame-Options") != "DENY" || c.Log.Fields["env"] != "prod" {
				t.Errorf("%+v %v", c.HTTP, c.Log.Fields)
			}
		}},
		{name: "REGISTRY_AUTH picks the scheme", yaml: "auth:\n  htpasswd: {realm: r, path: /h}\n", env: []string{
			"REGISTRY_AUTH=token", "REGISTRY_AUTH_TOKEN_REALM=https://a/t", "REGISTRY_AUTH_TOKEN_SERVICE=s", "REGISTRY_AUTH_TOKEN_ISSUER=i", "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE=/b",
		}, check: func(t *testing.T, c *Config) {
			if c.Auth.Htpasswd != nil || c.Auth.Token == nil || c.Auth.Token.Issuer != "i" {
				t.Errorf("%+v", c.Auth)
			}
		}},
		{name: "notification endpoints", yaml: `notifications:
  events: {includereferences: true}
  endpoints:
    - name: hook
      url: http://127.0.0.1:9/events
      headers: {Authorization: [Bearer x]}
      timeout: 1s
      threshold: 5
      backoff: 2s
      ignore: {actions: [pull]}
`, check: func(t *testing.T, c *Config) {
			e := c.Notifications.Endpoints[0]
			if e.Name != "hook" || e.Backoff != 2*time.Second || e.Threshold != 5 || e.Headers.Get("Authorization") != "Bearer x" || e.Ignore.Actions[0] != "pull" {
				t.Errorf("%+v", e)
			}
		}},
		{name: "platform platforms env for a platform", env: []string{"REGISTRY_PORT=tcp://10.0.0.1:5000", "REGISTRY_SERVICE_HOST=10.0.0.1"}, check: func(t *testing.T, c *Config) {
			if len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], "REGISTRY_PORT") {
				t.Errorf("%v", c.Warnings)
			}
		}},
		{name: "deprecated loglevel", yaml: "loglevel: DEBUG\n", check: func(t *testing.T, c *Config) {
			if c.Log.Level != "debug" {
				t.Errorf("%q", c.Log.Level)
			}
		}},
		{name: "harmless values of refused keys", yaml: "compatibility:\n  schema1: {enabled: false}\nstorage:\n  cache: {blobdescriptor: inmemory}\n  filesystem: {}\n"},

		{name: "typo", yaml: "http:\n  adr: :5000\n", err: "http.adr: unknown key"},
		{name: "unknown top-level key", yaml: "htpp: {}\n", err: "htpp: unknown key"},
		{name: "unknown key through env", env: []string{"REGISTRY_HTTP_ADR=:1"}, err: "REGISTRY_HTTP_ADR: unknown key adr"},
		{name: "redis refused", yaml: "redis:\n  addr: localhost:6379\n", err: "redis: berth needs no Redis"},
		{name: "redis refused through env", env: []string{"REGISTRY_REDIS_ADDR=localhost:6379"}, err: "redis: berth needs no Redis"},
		{name: "redis blob descriptor cache refused", yaml: "storage:\n  cache: {blobdescriptor: redis}\n", err: "storage.cache.blobdescriptor: berth needs no Redis"},
		{name: "azure refused", yaml: "storage:\n  azure: {accountname: x}\n", err: "storage.azure:"},
		{name: "two drivers", yaml: "storage:\n  filesystem: {}\n  s3: {bucket: b}\n", err: "more than one driver"},
		{name: "middleware refused", yaml: "middleware:\n  storage: [{name: cloudfront}]\n", err: "middleware:"},
		{name: "letsencrypt refused", yaml: "http:\n  tls:\n    letsencrypt: {email: a@b}\n", err: "http.tls.letsencrypt:"},
		{name: "schema1 refused", yaml: "compatibility:\n  schema1: {enabled: true}\n", err: "compatibility.schema1.enabled"},
		{name: "s3 without bucket", env: []string{"REGISTRY_STORAGE=s3"}, err: "storage.s3.bucket"},
		{name: "s3 small chunks", yaml: "storage:\n  s3: {bucket: b, chunksize: 1024}\n", err: "5 MiB"},
		{name: "s3 v4auth false", yaml: "storage:\n  s3: {bucket: b, v4auth: false}\n", err: "storage.s3.v4auth"},
		{name: "wrong shape", yaml: "http: :5000\n", err: "http: want a mapping"},
		{name: "bad boolean", env: []string{"REGISTRY_STORAGE_DELETE_ENABLED=maybe"}, err: "not a boolean"},
		{name: "bad duration", yaml: "health:\n  storagedriver: {interval: soon}\n", err: "health.storagedriver.interval"},
		{name: "headers need lists", yaml: "http:\n  headers: {X-A: b}\n", err: "want a list of values"},
		{name: "token incomplete", env: []string{"REGISTRY_AUTH=token", "REGISTRY_AUTH_TOKEN_REALM=https://a"}, err: "needs realm, service, issuer and rootcertbundle"},
		{name: "htpasswd without a path", env: []string{"REGISTRY_AUTH=htpasswd"}, err: "auth.htpasswd.path"},
		{name: "silly auth", env: []string{"REGISTRY_AUTH=silly"}, err: "auth.silly:"},
		{name: "bad log level", env: []string{"REGISTRY_LOG_LEVEL=loud"}, err: "want error, warn, info or debug"},
		{name: "logstash", yaml: "log: {formatter: logstash}\n", err: "logstash is not supported"},
		{name: "proxy url", env: []string{"REGISTRY_PROXY_REMOTEURL=ftp://x"}, err: "proxy.remoteurl"},
		{name: "proxy ttl", yaml: "proxy: {remoteurl: https://r, ttl: 1h}\n", err: "proxy.ttl"},
		{name: "endpoint without url", yaml: "notifications:\n  endpoints: [{name: a}]\n", err: "notifications.endpoints[0].url"},
		{name: "bad version", yaml: "version: 2\n", err: "version"},
		{name: "cipher suite", yaml: "http:\n  tls: {ciphersuites: [TLS_RSA_WITH_RC4_128_SHA]}\n", err: "ciphersuites"},
		{name: "policy", yaml: "policy:\n  repository: {classes: [image]}\n", err: "policy.repository.classes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), tc.env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// TestEveryKeyHasAField pins the promise that a key the schema accepts is
// one Config carries: a key accepted but never decoded would be silently
// ignored.
func TestEveryKeyHasAField(t *testing.T) {
	var allRefused func(n *node) bool
	allRefused = func(n *node) bool {
		for _, sub := range n.sub {
			if sub.refuse == "" && !allRefused(sub) {
				return false
			}
		}
		return len(n.sub) > 0
	}
	var walk func(n *node, typ reflect.Type, path string)
	walk = func(n *node, typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		for k, sub := range n.sub {
			p := join(path, k)
			if sub.refuse != "" || allRefused(sub) {
				continue
			}
			var field reflect.Type
			for i := 0; i < typ.NumField(); i++ {
				if tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ","); tag == k {
					field = typ.Field(i).Type
				}
			}
			if field == nil {
				t.Errorf("%s is accepted but Config has no field for it", p)
				continue
			}
			if sub.kind == kSection || sub.kind == kList {
				walk(sub, field, p)
			}
		}
	}
	walk(schema, reflect.TypeFor[Config](), "")
}

func TestHeadersCanonical(t *testing.T) {
	c, err := Parse(nil, []string{"REGISTRY_HTTP_HEADERS_STRICT-TRANSPORT-SECURITY=max-age=31536000"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Headers[http.CanonicalHeaderKey("strict-transport-security")][0] != "max-age=31536000" {
		t.Fatalf("%v", c.HTTP.Headers)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(registry2Default), "REGISTRY_STORAGE=s3")
	f.Add([]byte("storage: s3\n"), "REGISTRY_HTTP_HEADERS=[a]")
	f.Add([]byte("notifications: {endpoints: [{name: a, url: 'http://x'}]}"), "REGISTRY_AUTH=htpasswd")
	f.Fuzz(func(t *testing.T, data []byte, env string) {
		// Any input: an error or a config, never a panic.
		Parse(data, []string{env})
	})
}
