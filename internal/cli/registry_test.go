package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/registry/config"
	"github.com/berth-dev/berth/internal/testenv"
)

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	code := a.run(context.Background(), args)
	return code, out.String(), errb.String()
}

// TestRegistryFlags pins serve's flags over the configuration (the
// configuration itself is internal/registry/config's to test).
func TestRegistryFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(`version: 0.1
http:
  addr: :6000
auth:
  htpasswd: {realm: cfg, path: /cfg.htpasswd}
storage:
  filesystem: {rootdirectory: /cfgroot}
`), 0o644)
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *config.Config)
		err   string
	}{
		{"config file", []string{"--config", cfg}, nil, func(t *testing.T, c *config.Config) {
			if c.HTTP.Addr != ":6000" || c.Storage.Filesystem.RootDirectory != "/cfgroot" || c.Auth.Htpasswd.Realm != "cfg" {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"flags over the file", []string{"--config", cfg, "--addr", "127.0.0.1:1", "--root", "/flagroot", "--realm", "flag", "--disable-delete", "--read-only"}, nil, func(t *testing.T, c *config.Config) {
			if c.HTTP.Addr != "127.0.0.1:1" || c.Storage.Filesystem.RootDirectory != "/flagroot" || c.Auth.Htpasswd.Realm != "flag" || c.DeleteEnabled() || !c.Storage.Maintenance.ReadOnly.Enabled {
				t.Errorf("%+v", c)
			}
		}, ""},
		{"s3 from flags", []string{"--storage", "s3", "--s3-bucket", "b", "--s3-endpoint", "http://127.0.0.1:1", "--s3-path-style", "--s3-redirect=false"}, nil, func(t *testing.T, c *config.Config) {
			if c.StorageDriver() != "s3" || c.Storage.S3.Bucket != "b" || !c.Storage.S3.ForcePathStyle || !c.Storage.Redirect.Disable {
				t.Errorf("%+v", c.Storage)
			}
		}, ""},
		{"flags over REGISTRY_STORAGE_S3", []string{"--s3-bucket", "flag"}, map[string]string{"REGISTRY_STORAGE": "s3", "REGISTRY_STORAGE_S3_BUCKET": "env"}, func(t *testing.T, c *config.Config) {
			if c.Storage.S3.Bucket != "flag" {
				t.Errorf("%+v", c.Storage.S3)
			}
		}, ""},
		{"s3 flags without s3", []string{"--s3-bucket", "b"}, nil, nil, "go with --storage s3"},
		{"bad storage", []string{"--storage", "azure"}, nil, nil, "want filesystem or s3"},
		{"s3 without bucket", []string{"--storage", "s3"}, nil, nil, "a bucket is required"},
		{"tls pair", []string{"--tls-cert", "/c"}, nil, nil, "go together"},
		{"refused key", nil, map[string]string{"REGISTRY_REDIS_ADDR": "x:1"}, nil, "redis"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var rf registryFlags
			cmd := &cobra.Command{}
			rf.addStorage(cmd)
			f := cmd.Flags()
			f.StringVar(&rf.addr, "addr", "", "")
			f.StringVar(&rf.htpasswd, "htpasswd", "", "")
			f.StringVar(&rf.realm, "realm", "berth registry", "")
			f.StringVar(&rf.cert, "tls-cert", "", "")
			f.StringVar(&rf.key, "tls-key", "", "")
			f.BoolVar(&rf.readOnly, "read-only", false, "")
			f.BoolVar(&rf.noDelete, "disable-delete", false, "")
			if err := f.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c, err := rf.load(f)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestRegistryConfigErrors(t *testing.T) {
	code, _, stderr := runCLI(t, "", "registry", "serve", "--config", filepath.Join(t.TempDir(), "none.yml"))
	if code != 1 || !strings.Contains(stderr, "reading registry config") {
		t.Fatalf("missing config: %d %q", code, stderr)
	}
	cfg := filepath.Join(t.TempDir(), "config.yml")
	os.WriteFile(cfg, []byte("storage:\n  filesystem: {rootdirectory: /x}\nredis:\n  addr: localhost:6379\n"), 0o644)
	code, _, stderr = runCLI(t, "", "registry", "serve", "--config", cfg)
	if code != 125 || !strings.Contains(stderr, "redis: berth needs no Redis") {
		t.Fatalf("refused key: %d %q", code, stderr)
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
		{"wrong arg count", "", []string{"registry", "htpasswd", p}, 1, "requires"},
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
