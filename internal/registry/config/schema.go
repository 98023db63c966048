package config

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// kind is the shape a key's value must have.
type kind uint8

const (
	kSection  kind = iota // a mapping with the keys in sub
	kString               // a scalar, kept as text
	kBool                 // true/false
	kInt                  // an integer
	kDuration             // "10s" or nanoseconds
	kStrings              // a list of scalars
	kHeaders              // header name -> list of values
	kMap                  // name -> scalar (log.fields)
	kList                 // a list of sections shaped as sub
	kAny                  // anything (only for refused keys)
)

// node describes one key of distribution's configuration.
type node struct {
	kind kind
	sub  map[string]*node
	// refuse, when set, is why berth refuses the key: a value other than a
	// harmless one is an error naming the key and this reason.
	refuse   string
	harmless func(v any) bool // nil: only zero values (false, "", 0, empty) are harmless
}

func sec(sub map[string]*node) *node  { return &node{kind: kSection, sub: sub} }
func list(sub map[string]*node) *node { return &node{kind: kList, sub: sub} }
func str() *node                      { return &node{kind: kString} }
func boolean() *node                  { return &node{kind: kBool} }
func integer() *node                  { return &node{kind: kInt} }
func duration() *node                 { return &node{kind: kDuration} }
func strs() *node                     { return &node{kind: kStrings} }
func headers() *node                  { return &node{kind: kHeaders} }

// no marks n refused for reason.
func (n *node) no(reason string) *node { n.refuse = reason; return n }

// unless lets values for which ok is true through a refused key.
func (n *node) unless(ok func(any) bool) *node { n.harmless = ok; return n }

// refused is a section berth refuses whenever it is present.
func refused(reason string) *node {
	return &node{kind: kAny, refuse: reason, harmless: func(v any) bool { return v == nil }}
}

func isValue(want any) func(any) bool {
	return func(v any) bool { return strings.EqualFold(fmt.Sprint(v), fmt.Sprint(want)) }
}

const noRedis = "berth needs no Redis: each replica caches repository metadata in memory and revalidates it by ETag on every read, so nothing stale is served; remove the redis settings"

// storageDrivers are the keys of the storage section that name a driver.
var storageDrivers = map[string]bool{"filesystem": true, "s3": true, "azure": true, "gcs": true, "swift": true, "oss": true, "inmemory": true}

// schema is every key of distribution's configuration (configuration.go
// and the storage drivers' parameters), and what berth does with it.
var schema = sec(map[string]*node{
	"version": str(),
	"log": sec(map[string]*node{
		"accesslog": sec(map[string]*node{"disabled": boolean()}),
		"level":     str(),
		"formatter": str(), // text or json; checked in Validate
		"fields":    {kind: kMap},
		"hooks":     refused("log hooks (mail on error) are not supported; forward the JSON log lines instead"),
		// Go's slog records the source position.
		"reportcaller": boolean(),
	}),
	"loglevel": str(),
	"storage": sec(map[string]*node{
		"filesystem": sec(map[string]*node{
			"rootdirectory": str(),
			"maxthreads":    integer().no("berth does not bound filesystem threads (Go's runtime does); remove maxthreads"),
		}),
		"s3": sec(map[string]*node{
			"accesskey":                   str(),
			"secretkey":                   str(),
			"sessiontoken":                str(),
			"region":                      str(),
			"regionendpoint":              str(),
			"forcepathstyle":              boolean(),
			"bucket":                      str(),
			"encrypt":                     boolean(),
			"keyid":                       str(),
			"secure":                      boolean(),
			"skipverify":                  boolean(),
			"v4auth":                      boolean().no("only AWS signature version 4 is supported").unless(isValue(true)),
			"chunksize":                   integer(),
			"multipartcopychunksize":      integer(),
			"multipartcopymaxconcurrency": integer(),
			"multipartcopythresholdsize":  integer(),
			"rootdirectory":               str(),
			"storageclass":                str(),
			"useragent":                   str(),
			"objectacl":                   str(),
			"usedualstack":                boolean(),
			"accelerate":                  boolean(),
			"usefipsendpoint":             boolean(),
			"redirectendpoint":            str().no("presigned redirects use the bucket's own endpoint; remove redirectendpoint"),
			"loglevel":                    str().no("the S3 client logs through berth's log level (-l debug); remove storage.s3.loglevel").unless(isValue("off")),
		}),
		"azure":    refused("berth stores on the filesystem or S3-compatible object storage only"),
		"gcs":      refused("berth stores on the filesystem or S3-compatible object storage only (Google Cloud Storage speaks S3: use storage.s3 with regionendpoint https://storage.googleapis.com)"),
		"swift":    refused("berth stores on the filesystem or S3-compatible object storage only"),
		"oss":      refused("berth stores on the filesystem or S3-compatible object storage only (Alibaba OSS speaks S3: use storage.s3)"),
		"inmemory": refused("the in-memory driver loses everything on restart; use a filesystem root (a tmpfs works)"),
		"delete":   sec(map[string]*node{"enabled": boolean()}),
		"maintenance": sec(map[string]*node{
			"uploadpurging": sec(map[string]*node{"enabled": boolean(), "age": duration(), "interval": duration(), "dryrun": boolean()}),
			"readonly":      sec(map[string]*node{"enabled": boolean()}),
		}),
		"cache": sec(map[string]*node{
			"blobdescriptor":     str().no(noRedis).unless(isValue("inmemory")),
			"blobdescriptorsize": integer().no("berth's in-memory caches are bounded by bytes, not by a descriptor count; remove blobdescriptorsize"),
		}),
		"redirect": sec(map[string]*node{"disable": boolean()}),
		"tag":      sec(map[string]*node{"concurrencylimit": integer().no("a repository's tags are one object, read at once; remove tag.concurrencylimit")}),
	}),
	"auth": sec(map[string]*node{
		"htpasswd": sec(map[string]*node{"realm": str(), "path": str()}),
		"token": sec(map[string]*node{
			"realm": str(), "service": str(), "issuer": str(), "rootcertbundle": str(),
			"autoredirect":      boolean().no("tokens must name the realm given; autoredirect is not supported"),
			"jwks":              str().no("token keys come from rootcertbundle (PEM certificates); JWKS is not supported"),
			"signingalgorithms": strs().no("the signing algorithm follows the certificate's key; remove signingalgorithms"),
		}),
		"silly": refused("silly auth accepts anyone; use htpasswd or token"),
	}),
	"middleware": refused("storage, registry and repository middleware (CloudFront, redirect) is not supported; for presigned S3 redirects leave storage.redirect.disable false"),
	"reporting":  refused("bugsnag and newrelic reporting is not supported; use the Prometheus metrics on http.debug.addr"),
	"http": sec(map[string]*node{
		"addr":   str(),
		"net":    str(),
		"host":   str(),
		"prefix": str(),
		// Distribution signs upload state carried in URLs with it; berth
		// keeps upload state in storage and has nothing to sign.
		"secret":       str(),
		"relativeurls": boolean(),
		"draintimeout": duration(),
		"tls": sec(map[string]*node{
			"certificate":  str(),
			"key":          str(),
			"clientcas":    strs(),
			"clientauth":   str(),
			"minimumtls":   str(),
			"ciphersuites": strs(),
			"letsencrypt":  refused("Let's Encrypt needs the ACME network service; pass certificate and key files"),
		}),
		"headers": headers(),
		"debug": sec(map[string]*node{
			"addr":       str(),
			"prometheus": sec(map[string]*node{"enabled": boolean(), "path": str()}),
		}),
		"http2": sec(map[string]*node{"disabled": boolean()}),
		"h2c":   sec(map[string]*node{"enabled": boolean()}),
	}),
	"notifications": sec(map[string]*node{
		"events": sec(map[string]*node{"includereferences": boolean()}),
		"endpoints": list(map[string]*node{
			"name": str(), "disabled": boolean(), "url": str(), "headers": headers(),
			"timeout": duration(), "threshold": integer(), "backoff": duration(),
			"ignoredmediatypes": strs(),
			"ignore":            sec(map[string]*node{"mediatypes": strs(), "actions": strs()}),
		}),
	}),
	"redis": refused(noRedis),
	"health": sec(map[string]*node{
		"storagedriver": sec(map[string]*node{"enabled": boolean(), "interval": duration(), "threshold": integer()}),
		"file":          list(map[string]*node{"file": str(), "interval": duration(), "threshold": integer()}),
		"http": list(map[string]*node{
			"uri": str(), "headers": headers(), "statuscode": integer(), "timeout": duration(),
			"interval": duration(), "threshold": integer(),
		}),
		"tcp": list(map[string]*node{"addr": str(), "timeout": duration(), "interval": duration(), "threshold": integer()}),
	}),
	"catalog": sec(map[string]*node{"maxentries": integer()}),
	"tags":    sec(map[string]*node{"maxtags": integer()}),
	"proxy": sec(map[string]*node{
		"remoteurl": str(), "username": str(), "password": str(),
		"ttl":               duration().no("the cache keeps what it fetched until garbage collection; tags are asked of the upstream on every pull, so there is nothing to expire; remove proxy.ttl"),
		"exec":              refused("upstream credentials come from proxy.username/password or the Docker credential helpers of the user running berth; remove proxy.exec"),
		"cachewritetimeout": duration().no("cache writes finish with the client's request; remove proxy.cachewritetimeout"),
	}),
	"compatibility": sec(map[string]*node{
		"schema1": sec(map[string]*node{
			"signingkeyfile": str().no("Docker schema 1 manifests are not supported"),
			"enabled":        boolean().no("Docker schema 1 manifests are not supported"),
		}),
	}),
	"validation": sec(map[string]*node{
		"enabled":  boolean(),
		"disabled": boolean(),
		"manifests": sec(map[string]*node{
			"urls": sec(map[string]*node{"allow": strs(), "deny": strs()}),
			"indexes": sec(map[string]*node{
				"platforms":    str(),
				"platformlist": list(map[string]*node{"architecture": str(), "os": str()}),
			}),
		}),
	}),
	"policy": sec(map[string]*node{
		"repository": sec(map[string]*node{"classes": strs().no("repository classes are not supported; remove policy.repository.classes")}),
	}),
})

// check walks v against n, failing on unknown keys, values of the wrong
// shape and refused keys that are set.
func check(n *node, path string, v any) error {
	if n.refuse != "" {
		ok := n.harmless
		if ok == nil {
			ok = isZero
		}
		if !ok(v) {
			return fmt.Errorf("%s: %s", path, n.refuse)
		}
		return nil
	}
	if v == nil {
		return nil
	}
	switch n.kind {
	case kSection:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want a mapping of keys, got %s", path, shape(v))
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub, ok := n.sub[strings.ToLower(k)]
			if !ok {
				return fmt.Errorf("%s: unknown key (%s)", join(path, k), known(n))
			}
			if err := check(sub, join(path, k), m[k]); err != nil {
				return err
			}
		}
	case kList:
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want a list, got %s", path, shape(v))
		}
		for i, it := range l {
			if err := check(sec(n.sub), fmt.Sprintf("%s[%d]", path, i), it); err != nil {
				return err
			}
		}
	case kString:
		switch v.(type) {
		case string, int, float64, bool:
		default:
			return fmt.Errorf("%s: want a string, got %s", path, shape(v))
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want true or false, got %v", path, v)
		}
	case kInt:
		if _, ok := v.(int); !ok {
			return fmt.Errorf("%s: want an integer, got %v", path, v)
		}
	case kDuration:
		switch d := v.(type) {
		case int:
		case string:
			if _, err := time.ParseDuration(d); err != nil {
				return fmt.Errorf("%s: want a duration such as 10s, got %q", path, d)
			}
		default:
			return fmt.Errorf("%s: want a duration such as 10s, got %v", path, v)
		}
	case kStrings:
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want a list, got %s", path, shape(v))
		}
		for _, it := range l {
			if _, ok := it.(map[string]any); ok {
				return fmt.Errorf("%s: want a list of strings", path)
			}
		}
	case kHeaders, kMap:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want a mapping, got %s", path, shape(v))
		}
		if n.kind == kHeaders {
			for k, hv := range m {
				if _, ok := hv.([]any); !ok {
					return fmt.Errorf("%s: want a list of values, as in %s: [value]", join(path, k), k)
				}
			}
		}
	}
	return nil
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func known(n *node) string {
	keys := make([]string, 0, len(n.sub))
	for k := range n.sub {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "known: " + strings.Join(keys, ", ")
}

func shape(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case int:
		return x == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}
