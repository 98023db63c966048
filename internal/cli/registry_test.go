package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	code := a.run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestRegistrySettings(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(`version: 0.1
http:
  addr: :6000
  tls: {certificate: /c.pem, key: /k.pem}
auth:
  htpasswd: {realm: cfg, path: /cfg.htpasswd}
storage:
  filesystem: {rootdirectory: /cfgroot}
  delete: {enabled: false}
`), 0o644)
	tokenCfg := filepath.Join(dir, "token.yml")
	os.WriteFile(tokenCfg, []byte(`version: 0.1
auth:
  token: {realm: "https://auth.example/token", service: reg.example, issuer: acme, rootcertbundle: /bundle.pem}
`), 0o644)
	tests := []struct {
		name   string
		config string
		env    map[string]string
		want   registrySettings
		err    string
	}{
		{"defaults", "", nil, registrySettings{Addr: ":5000", Realm: "berth registry", DeleteEnabled: true}, ""},
		{"config file", cfg, nil, registrySettings{Addr: ":6000", Root: "/cfgroot", Htpasswd: "/cfg.htpasswd", Realm: "cfg", TLSCert: "/c.pem", TLSKey: "/k.pem"}, ""},
		{"env over config", cfg, map[string]string{
			"REGISTRY_HTTP_ADDR": "127.0.0.1:7000", "REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_PATH": "/env.htpasswd",
			"REGISTRY_AUTH_HTPASSWD_REALM": "env", "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/envroot",
			"REGISTRY_STORAGE_DELETE_ENABLED": "true", "REGISTRY_HTTP_TLS_CERTIFICATE": "/e.pem", "REGISTRY_HTTP_TLS_KEY": "/ek.pem",
		}, registrySettings{Addr: "127.0.0.1:7000", Root: "/envroot", Htpasswd: "/env.htpasswd", Realm: "env", TLSCert: "/e.pem", TLSKey: "/ek.pem", DeleteEnabled: true}, ""},
		{"token from the config file", tokenCfg, nil, registrySettings{Addr: ":5000", Realm: "berth registry", DeleteEnabled: true,
			Token: tokenSettings{Realm: "https://auth.example/token", Service: "reg.example", Issuer: "acme", RootCertBundle: "/bundle.pem"}}, ""},
		{"token env over config", tokenCfg, map[string]string{"REGISTRY_AUTH": "token", "REGISTRY_AUTH_TOKEN_ISSUER": "other"}, registrySettings{Addr: ":5000", Realm: "berth registry", DeleteEnabled: true,
			Token: tokenSettings{Realm: "https://auth.example/token", Service: "reg.example", Issuer: "other", RootCertBundle: "/bundle.pem"}}, ""},
		{"log settings", "", map[string]string{"REGISTRY_LOG_LEVEL": "debug", "REGISTRY_LOG_ACCESSLOG_DISABLED": "true"}, registrySettings{Addr: ":5000", Realm: "berth registry", DeleteEnabled: true, LogLevel: "debug", NoAccessLog: true}, ""},
		{"bad log level", "", map[string]string{"REGISTRY_LOG_LEVEL": "loud"}, registrySettings{}, "want error, warn, info or debug"},
		{"unsupported auth", "", map[string]string{"REGISTRY_AUTH": "silly"}, registrySettings{}, "not supported"},
		{"token without its settings", "", map[string]string{"REGISTRY_AUTH": "token", "REGISTRY_AUTH_TOKEN_REALM": "https://auth/token"}, registrySettings{}, "needs realm, service, issuer and rootcertbundle"},
		{"htpasswd without path", "", map[string]string{"REGISTRY_AUTH": "htpasswd"}, registrySettings{}, "needs REGISTRY_AUTH_HTPASSWD_PATH"},
		{"bad boolean", "", map[string]string{"REGISTRY_STORAGE_DELETE_ENABLED": "maybe"}, registrySettings{}, "not a boolean"},
		{"missing config", filepath.Join(dir, "none.yml"), nil, registrySettings{}, "reading registry config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadRegistrySettings(tc.config, func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%+v %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

func TestRegistryRootDefault(t *testing.T) {
	t.Setenv("BERTH_ROOT", "/data/berth")
	tests := []struct {
		flag string
		s    registrySettings
		want string
	}{
		{"/flag", registrySettings{Root: "/env"}, "/flag"},
		{"", registrySettings{Root: "/env"}, "/env"},
		{"", registrySettings{}, "/data/berth/registry"},
	}
	for _, tc := range tests {
		if got := registryRoot(tc.flag, tc.s); got != tc.want {
			t.Errorf("registryRoot(%q, %q) = %q, want %q", tc.flag, tc.s.Root, got, tc.want)
		}
	}
}

func TestRegistryHtpasswdCmd(t *testing.T) {
	apache := testenv.Peer(t, "htpasswd")
	p := filepath.Join(t.TempDir(), "htpasswd")
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		err   string
	}{
		{"create", "pw1\n", []string{"registry", "htpasswd", "-Bc", "--password-stdin", "-C", "5", p, "alice"}, 0, ""},
		{"add", "pw2\n", []string{"registry", "htpasswd", "-B", "--password-stdin", "-C", "5", p, "bob"}, 0, ""},
		{"apache batch spelling", "", []string{"registry", "htpasswd", "-Bbc", "-C", "5", p + ".b", "carol", "pw4"}, 0, ""},
		{"password argument without -b", "", []string{"registry", "htpasswd", "-c", p + ".b", "carol", "pw4"}, 125, "goes with -b"},
		{"update", "pw3\n", []string{"registry", "htpasswd", "--password-stdin", "-C", "5", p, "alice"}, 0, ""},
		{"missing file without -c", "x\n", []string{"registry", "htpasswd", "--password-stdin", p + ".none", "u"}, 1, "use -c"},
		{"colon in user", "x\n", []string{"registry", "htpasswd", "-c", "--password-stdin", p + ".2", "a:b"}, 125, "invalid user name"},
		{"empty password", "\n", []string{"registry", "htpasswd", "-c", "--password-stdin", p + ".3", "u"}, 1, "empty password"},
		{"wrong arg count", "", []string{"registry", "htpasswd", p}, 125, "requires"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.err) {
				t.Fatalf("exit %d, stderr %q; want %d %q", code, stderr, tc.code, tc.err)
			}
		})
	}
	for _, c := range [][3]string{{p, "alice", "pw3"}, {p, "bob", "pw2"}, {p + ".b", "carol", "pw4"}} {
		if out, err := exec.Command(apache, "-vb", c[0], c[1], c[2]).CombinedOutput(); err != nil {
			t.Errorf("apache htpasswd rejects %s: %v %s", c[0], err, out)
		}
	}
	data, _ := os.ReadFile(p)
	if n := strings.Count(string(data), "\n"); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, data)
	}
}

func TestRegistryGCCmd(t *testing.T) {
	root := t.TempDir()
	code, out, stderr := runCLI(t, "", "registry", "gc", "--root", root, "--dry-run", "--delay", "0")
	if code != 0 || !strings.Contains(out, "Total reclaimed space: 0B") {
		t.Fatalf("%d %q %q", code, out, stderr)
	}
	code, _, stderr = runCLI(t, "", "registry", "gc", "--root", filepath.Join(root, "missing"))
	if code != 1 || !strings.Contains(stderr, "hint:") {
		t.Fatalf("missing root: %d %q", code, stderr)
	}
	code, _, _ = runCLI(t, "", "registry", "gc", "--delay", "soon")
	if code != 125 {
		t.Fatalf("bad flag: %d", code)
	}
}
