package remote

import (
	"encoding/base64"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Challenge
	}{
		{"bearer", `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"`,
			[]Challenge{{"bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/busybox:pull"}}}},
		{"basic", `Basic realm="Registry Realm"`, []Challenge{{"basic", map[string]string{"realm": "Registry Realm"}}}},
		{"escaped quote", `Bearer realm="a\"b",error="insufficient_scope"`, []Challenge{{"bearer", map[string]string{"realm": `a"b`, "error": "insufficient_scope"}}}},
		{"two challenges", `Negotiate, Basic realm="x"`, []Challenge{{"negotiate", map[string]string{}}, {"basic", map[string]string{"realm": "x"}}}},
		{"unquoted and spaces", `bearer  realm = https://r/t , service=reg`, []Challenge{{"bearer", map[string]string{"realm": "https://r/t", "service": "reg"}}}},
		{"unterminated", `Bearer realm="abc`, []Challenge{{"bearer", map[string]string{"realm": "abc"}}}},
		{"empty", ``, nil},
		{"garbage", `"=,=`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseChallenge(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseChallenge(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
	h := http.Header{}
	h.Add("WWW-Authenticate", `Basic realm="a"`)
	h.Add("WWW-Authenticate", `Bearer realm="b"`)
	if got := ParseChallenges(h); len(got) != 2 || got[1].Params["realm"] != "b" {
		t.Fatalf("ParseChallenges = %#v", got)
	}
}

func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{
		`Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`,
		`Basic realm="x"`, `Negotiate, Basic realm="x"`, `Bearer realm="a\"b`, `,,,`, `a=b=c`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range ParseChallenge(s) {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) {
				t.Fatalf("bad scheme %q from %q", c.Scheme, s)
			}
			for k := range c.Params {
				if k == "" || k != strings.ToLower(k) {
					t.Fatalf("bad param name %q from %q", k, s)
				}
			}
		}
	})
}

func TestParseDockerConfig(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		doc     string
		server  string
		want    AuthEntry
		helper  string
		wantErr string
	}{
		{"auth field", `{"auths":{"reg.example:5000":{"auth":"` + b64("u:p:w") + `"}}}`, "reg.example:5000", AuthEntry{Username: "u", Password: "p:w"}, "", ""},
		{"url key", `{"auths":{"https://reg.example/v1/":{"auth":"` + b64("u:p") + `"}}}`, "reg.example", AuthEntry{Username: "u", Password: "p"}, "", ""},
		{"hub", `{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64("hub:pw") + `"}}}`, "index.docker.io", AuthEntry{Username: "hub", Password: "pw"}, "", ""},
		{"identity token", `{"auths":{"r":{"identitytoken":"tok"}}}`, "r", AuthEntry{IdentityToken: "tok"}, "", ""},
		{"helpers", `{"auths":{},"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"}}`, "gcr.io", AuthEntry{}, "gcloud", ""},
		{"creds store", `{"credsStore":"pass"}`, "other.example", AuthEntry{}, "pass", ""},
		{"hub helper alias", `{"credsStore":"pass","credHelpers":{"docker.io":"hubhelper"}}`, "index.docker.io", AuthEntry{}, "hubhelper", ""},
		{"empty file", ``, "r", AuthEntry{}, "", ""},
		{"bad json", `{"auths":`, "", AuthEntry{}, "", "invalid JSON"},
		{"bad auth", `{"auths":{"r":{"auth":"!!"}}}`, "", AuthEntry{}, "", "not base64"},
		{"auth without colon", `{"auths":{"r":{"auth":"` + b64("nocolon") + `"}}}`, "", AuthEntry{}, "", "not USER:PASSWORD"},
		{"bad helper name", `{"credsStore":"../../bin/sh"}`, "", AuthEntry{}, "", "invalid credential helper"},
		{"auths wrong type", `{"auths":[]}`, "", AuthEntry{}, "", "invalid \"auths\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseDockerConfig([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := c.lookupFile(tt.server)
			if got != tt.want {
				t.Fatalf("lookup(%s) = %+v, want %+v", tt.server, got, tt.want)
			}
			if h := c.helperFor(tt.server); h != tt.helper {
				t.Fatalf("helper = %q, want %q", h, tt.helper)
			}
		})
	}
}

// Rewriting config.json must keep every key berth does not own.
func TestDockerConfigKeepsUnknownKeys(t *testing.T) {
	doc := `{"auths":{"a":{"auth":"dTpw"}},"psFormat":"table {{.ID}}","proxies":{"default":{"httpProxy":"x"}}}`
	c, err := ParseDockerConfig([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c.Auths["b"] = authJSON{Auth: encodeAuth("x", "y")}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"psFormat": "table {{.ID}}"`, `"httpProxy": "x"`, `"b": {`, `"a": {`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("missing %s in\n%s", want, out)
		}
	}
}

func FuzzParseDockerConfig(f *testing.F) {
	for _, s := range []string{
		`{"auths":{"r":{"auth":"dTpw"}},"credsStore":"pass","credHelpers":{"gcr.io":"gcloud"}}`,
		`{"auths":{"https://index.docker.io/v1/":{"identitytoken":"t"}}}`, `{}`, ``, `[]`, `{"auths":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseDockerConfig(data)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal of parsed config failed: %v", err)
		}
		c2, err := ParseDockerConfig(out)
		if err != nil {
			t.Fatalf("re-parse of %s failed: %v", out, err)
		}
		for k := range c.Auths {
			if c.Auths[k].entry() != c2.Auths[k].entry() {
				t.Fatalf("entry %q changed across a rewrite", k)
			}
		}
	})
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
		check   func(Settings) bool
	}{
		{"defaults", `{}`, "", func(s Settings) bool { return s.MaxConcurrentDownloads == 3 && s.MaxConcurrentUploads == 5 }},
		{"daemon keys", `{"registry-mirrors":["https://m.example:5000/"],"insecure-registries":["10.0.0.0/8","r:5000"],"max-concurrent-downloads":7,"debug":true}`, "",
			func(s Settings) bool {
				return s.MaxConcurrentDownloads == 7 && s.isInsecure("10.1.2.3:5000") && s.isInsecure("r:5000") && !s.isInsecure("s:5000")
			}},
		{"mirror with path", `{"registry-mirrors":["https://m/x"]}`, "no path", nil},
		{"mirror without scheme", `{"registry-mirrors":["m.example"]}`, "must start with", nil},
		{"insecure url", `{"insecure-registries":["http://x"]}`, "not a HOST", nil},
		{"negative", `{"max-concurrent-uploads":-1}`, "must be positive", nil},
		{"bad json", `{`, "invalid JSON", nil},
		{"scan db repositories", `{"scan-db-repository":["registry.example/sec/vulndb:1","https://osv.mirror.example/osv"]}`, "",
			func(s Settings) bool {
				return len(s.ScanDBRepositories) == 2 && s.ScanDBRepositories[1] == "https://osv.mirror.example/osv"
			}},
		{"scan db repository blank", `{"scan-db-repository":[" "]}`, "scan-db-repository", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSettings([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(s) {
				t.Fatalf("ParseSettings = %+v, %v", s, err)
			}
		})
	}
}

func TestHosts(t *testing.T) {
	for _, tt := range []struct {
		in, host, key string
		loopback      bool
	}{
		{"https://index.docker.io/v1/", "index.docker.io", HubServer, false},
		{"docker.io", "index.docker.io", HubServer, false},
		{"localhost:5000", "localhost:5000", "localhost:5000", true},
		{"127.3.4.5:80", "127.3.4.5:80", "127.3.4.5:80", true},
		{"http://reg.example:5000/v2/", "reg.example:5000", "reg.example:5000", false},
		{"[::1]:5000", "[::1]:5000", "[::1]:5000", true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := ConfigHost(tt.in); got != tt.host {
				t.Fatalf("ConfigHost = %q, want %q", got, tt.host)
			}
			if got := ServerKey(tt.in); got != tt.key {
				t.Fatalf("ServerKey = %q, want %q", got, tt.key)
			}
			if got := isLoopback(ConfigHost(tt.in)); got != tt.loopback {
				t.Fatalf("isLoopback = %v", got)
			}
		})
	}
}
