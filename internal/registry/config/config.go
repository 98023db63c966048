package config

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the registry's configuration: the keys of distribution's
// config.yml that berth acts on. Keys berth refuses never reach it (Load
// fails on them); see schema.go for the whole list.
type Config struct {
	Version       string        `yaml:"version"`
	Log           Log           `yaml:"log"`
	Loglevel      string        `yaml:"loglevel"` // deprecated spelling of log.level
	Storage       Storage       `yaml:"storage"`
	Auth          Auth          `yaml:"auth"`
	HTTP          HTTP          `yaml:"http"`
	Notifications Notifications `yaml:"notifications"`
	Health        Health        `yaml:"health"`
	Catalog       struct {
		MaxEntries int `yaml:"maxentries"`
	} `yaml:"catalog"`
	Tags struct {
		MaxTags int `yaml:"maxtags"`
	} `yaml:"tags"`
	Proxy      Proxy      `yaml:"proxy"`
	Validation Validation `yaml:"validation"`

	// Warnings are REGISTRY_* variables that name no configuration section
	// (REGISTRY_PORT set by a container platform): reported, not fatal.
	Warnings []string `yaml:"-"`
}

// Log is log.*.
type Log struct {
	AccessLog struct {
		Disabled bool `yaml:"disabled"`
	} `yaml:"accesslog"`
	Level        string         `yaml:"level"`
	Formatter    string         `yaml:"formatter"`
	Fields       map[string]any `yaml:"fields"`
	ReportCaller bool           `yaml:"reportcaller"`
}

// Storage is storage.*: one driver and the driver-independent settings.
type Storage struct {
	Filesystem *Filesystem `yaml:"filesystem"`
	S3         *S3         `yaml:"s3"`
	Delete     struct {
		Enabled *bool `yaml:"enabled"`
	} `yaml:"delete"`
	Maintenance struct {
		UploadPurging struct {
			Enabled  *bool         `yaml:"enabled"`
			Age      time.Duration `yaml:"age"`
			Interval time.Duration `yaml:"interval"`
			DryRun   bool          `yaml:"dryrun"`
		} `yaml:"uploadpurging"`
		ReadOnly struct {
			Enabled bool `yaml:"enabled"`
		} `yaml:"readonly"`
	} `yaml:"maintenance"`
	Redirect struct {
		Disable bool `yaml:"disable"`
	} `yaml:"redirect"`
}

// Filesystem is storage.filesystem.
type Filesystem struct {
	RootDirectory string `yaml:"rootdirectory"`
}

// S3 is storage.s3, distribution's S3 driver parameters.
type S3 struct {
	AccessKey                   string `yaml:"accesskey"`
	SecretKey                   string `yaml:"secretkey"`
	SessionToken                string `yaml:"sessiontoken"`
	Region                      string `yaml:"region"`
	RegionEndpoint              string `yaml:"regionendpoint"`
	ForcePathStyle              bool   `yaml:"forcepathstyle"`
	Bucket                      string `yaml:"bucket"`
	Encrypt                     bool   `yaml:"encrypt"`
	KeyID                       string `yaml:"keyid"`
	Secure                      *bool  `yaml:"secure"`
	SkipVerify                  bool   `yaml:"skipverify"`
	ChunkSize                   int64  `yaml:"chunksize"`
	MultipartCopyChunkSize      int64  `yaml:"multipartcopychunksize"`
	MultipartCopyMaxConcurrency int    `yaml:"multipartcopymaxconcurrency"`
	MultipartCopyThresholdSize  int64  `yaml:"multipartcopythresholdsize"`
	RootDirectory               string `yaml:"rootdirectory"`
	StorageClass                string `yaml:"storageclass"`
	UserAgent                   string `yaml:"useragent"`
	ObjectACL                   string `yaml:"objectacl"`
	UseDualStack                bool   `yaml:"usedualstack"`
	Accelerate                  bool   `yaml:"accelerate"`
	UseFIPSEndpoint             bool   `yaml:"usefipsendpoint"`
}

// Auth is auth.*: at most one of the two.
type Auth struct {
	Htpasswd *struct {
		Realm string `yaml:"realm"`
		Path  string `yaml:"path"`
	} `yaml:"htpasswd"`
	Token *Token `yaml:"token"`
}

// Token is auth.token.
type Token struct {
	Realm          string `yaml:"realm"`
	Service        string `yaml:"service"`
	Issuer         string `yaml:"issuer"`
	RootCertBundle string `yaml:"rootcertbundle"`
}

// HTTP is http.*.
type HTTP struct {
	Addr         string        `yaml:"addr"`
	Net          string        `yaml:"net"`
	Host         string        `yaml:"host"`
	Prefix       string        `yaml:"prefix"`
	Secret       string        `yaml:"secret"`
	RelativeURLs bool          `yaml:"relativeurls"`
	DrainTimeout time.Duration `yaml:"draintimeout"`
	TLS          struct {
		Certificate  string   `yaml:"certificate"`
		Key          string   `yaml:"key"`
		ClientCAs    []string `yaml:"clientcas"`
		ClientAuth   string   `yaml:"clientauth"`
		MinimumTLS   string   `yaml:"minimumtls"`
		CipherSuites []string `yaml:"ciphersuites"`
	} `yaml:"tls"`
	Headers http.Header `yaml:"headers"`
	Debug   struct {
		Addr       string `yaml:"addr"`
		Prometheus struct {
			Enabled bool   `yaml:"enabled"`
			Path    string `yaml:"path"`
		} `yaml:"prometheus"`
	} `yaml:"debug"`
	HTTP2 struct {
		Disabled bool `yaml:"disabled"`
	} `yaml:"http2"`
	H2C struct {
		Enabled bool `yaml:"enabled"`
	} `yaml:"h2c"`
}

// Notifications is notifications.*.
type Notifications struct {
	Events struct {
		IncludeReferences bool `yaml:"includereferences"`
	} `yaml:"events"`
	Endpoints []Endpoint `yaml:"endpoints"`
}

// Endpoint is one webhook of notifications.endpoints.
type Endpoint struct {
	Name              string        `yaml:"name"`
	Disabled          bool          `yaml:"disabled"`
	URL               string        `yaml:"url"`
	Headers           http.Header   `yaml:"headers"`
	Timeout           time.Duration `yaml:"timeout"`
	Threshold         int           `yaml:"threshold"`
	Backoff           time.Duration `yaml:"backoff"`
	IgnoredMediaTypes []string      `yaml:"ignoredmediatypes"`
	Ignore            struct {
		MediaTypes []string `yaml:"mediatypes"`
		Actions    []string `yaml:"actions"`
	} `yaml:"ignore"`
}

// Health is health.*.
type Health struct {
	StorageDriver struct {
		Enabled   bool          `yaml:"enabled"`
		Interval  time.Duration `yaml:"interval"`
		Threshold int           `yaml:"threshold"`
	} `yaml:"storagedriver"`
	File []struct {
		File      string        `yaml:"file"`
		Interval  time.Duration `yaml:"interval"`
		Threshold int           `yaml:"threshold"`
	} `yaml:"file"`
	HTTP []struct {
		URI        string        `yaml:"uri"`
		Headers    http.Header   `yaml:"headers"`
		StatusCode int           `yaml:"statuscode"`
		Timeout    time.Duration `yaml:"timeout"`
		Interval   time.Duration `yaml:"interval"`
		Threshold  int           `yaml:"threshold"`
	} `yaml:"http"`
	TCP []struct {
		Addr      string        `yaml:"addr"`
		Timeout   time.Duration `yaml:"timeout"`
		Interval  time.Duration `yaml:"interval"`
		Threshold int           `yaml:"threshold"`
	} `yaml:"tcp"`
}

// Proxy is proxy.*: registry:2's pull-through cache.
type Proxy struct {
	RemoteURL string `yaml:"remoteurl"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// Validation is validation.*.
type Validation struct {
	// Present: the configuration has a validation section. Without one,
	// berth keeps its own rules (foreign layer URLs accepted, sparse
	// indexes allowed); with one, registry:2's (validation enabled unless
	// disabled: no URL unless allowed, every index child present unless
	// indexes.platforms says otherwise).
	Present   bool `yaml:"-"`
	Enabled   bool `yaml:"enabled"`
	Disabled  bool `yaml:"disabled"`
	Manifests struct {
		URLs struct {
			Allow []string `yaml:"allow"`
			Deny  []string `yaml:"deny"`
		} `yaml:"urls"`
		Indexes struct {
			Platforms    string `yaml:"platforms"`
			PlatformList []struct {
				Architecture string `yaml:"architecture"`
				OS           string `yaml:"os"`
			} `yaml:"platformlist"`
		} `yaml:"indexes"`
	} `yaml:"manifests"`
}

// StorageDriver names the driver in force: "filesystem" or "s3".
func (c *Config) StorageDriver() string {
	if c.Storage.S3 != nil {
		return "s3"
	}
	return "filesystem"
}

// DeleteEnabled is storage.delete.enabled; berth enables deletion unless
// told otherwise (registry:2 disables it by default, which leaves GC with
// nothing to do).
func (c *Config) DeleteEnabled() bool {
	return c.Storage.Delete.Enabled == nil || *c.Storage.Delete.Enabled
}

// Load reads the config file at path ("" for none), applies the REGISTRY_*
// variables getenv returns, and checks the result.
func Load(path string, getenv func(string) string, environ []string) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading registry config: %w", err)
		}
	}
	c, err := Parse(data, environ)
	if err != nil && path != "" {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, err
}

// Parse is Load on the bytes of a config file and an environment in
// os.Environ's KEY=value form.
func Parse(data []byte, environ []string) (*Config, error) {
	var tree any
	if err := yaml.Unmarshal(data, &tree); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	if tree == nil {
		tree = map[string]any{}
	}
	root, ok := tree.(map[string]any)
	if !ok {
		return nil, errors.New("the configuration must be a mapping of keys")
	}
	root = lowerKeys(root)
	if err := normalizeChoices(root); err != nil {
		return nil, err
	}
	if err := check(schema, "", root); err != nil {
		return nil, err
	}
	warnings, err := applyEnv(root, environ)
	if err != nil {
		return nil, err
	}
	if err := normalizeChoices(root); err != nil {
		return nil, err
	}
	if err := check(schema, "", root); err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		return nil, err
	}
	c := &Config{}
	if err := yaml.Unmarshal(out, c); err != nil {
		return nil, err
	}
	c.Warnings = warnings
	c.Validation.Present = root["validation"] != nil
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// lowerKeys lower-cases the keys of sections (distribution's keys are
// matched without case), leaving header and field names as written.
func lowerKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		lk := strings.ToLower(k)
		if sub, ok := v.(map[string]any); ok && lk != "headers" && lk != "fields" {
			v = lowerKeys(sub)
		}
		if l, ok := v.([]any); ok {
			for i, it := range l {
				if sub, ok := it.(map[string]any); ok {
					l[i] = lowerKeys(sub)
				}
			}
		}
		out[lk] = v
	}
	return out
}

// normalizeChoices turns `storage: s3` and `auth: htpasswd` (distribution's
// short forms, what REGISTRY_STORAGE=s3 sets) into sections, and checks that
// one driver and one auth scheme are configured at most.
func normalizeChoices(root map[string]any) error {
	for _, k := range []string{"storage", "auth"} {
		if s, ok := root[k].(string); ok {
			root[k] = map[string]any{strings.ToLower(s): map[string]any{}}
		}
	}
	if st, ok := root["storage"].(map[string]any); ok {
		var drivers []string
		for k := range st {
			if storageDrivers[k] {
				drivers = append(drivers, k)
			}
		}
		sort.Strings(drivers)
		if len(drivers) > 1 {
			return fmt.Errorf("storage: more than one driver configured (%s); keep one", strings.Join(drivers, ", "))
		}
	}
	if au, ok := root["auth"].(map[string]any); ok && len(au) > 1 {
		var kinds []string
		for k := range au {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return fmt.Errorf("auth: more than one scheme configured (%s); registry:2 takes one", strings.Join(kinds, ", "))
	}
	return nil
}
