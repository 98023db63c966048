package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/output"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/store"
)

func (a *app) newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "registry", Short: "Run and maintain an OCI distribution registry", Args: noArgs}
	cmd.AddCommand(a.newRegistryServeCmd(), a.newRegistryGCCmd(), a.newRegistryHtpasswdCmd())
	return cmd
}

// registrySettings are registry:2's settings berth understands, from
// defaults, then config.yml, then REGISTRY_* variables, then flags.
type registrySettings struct {
	Addr          string
	Root          string
	Htpasswd      string
	Realm         string
	TLSCert       string
	TLSKey        string
	DeleteEnabled bool
	ReadOnly      bool
	Token         tokenSettings
	LogLevel      string // registry:2's log.level: error, warn, info, debug
	NoAccessLog   bool   // log.accesslog.disabled
	Proxy         proxySettings
}

// proxySettings are registry:2's proxy keys: a pull-through cache of
// RemoteURL.
type proxySettings struct {
	RemoteURL string `yaml:"remoteurl"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// tokenSettings are registry:2's auth.token keys.
type tokenSettings struct {
	Realm          string `yaml:"realm"`
	Service        string `yaml:"service"`
	Issuer         string `yaml:"issuer"`
	RootCertBundle string `yaml:"rootcertbundle"`
}

func (t tokenSettings) enabled() bool { return t != tokenSettings{} }

// registryConfigFile is the subset of registry:2's config.yml berth reads.
type registryConfigFile struct {
	Log struct {
		Level     string `yaml:"level"`
		AccessLog struct {
			Disabled bool `yaml:"disabled"`
		} `yaml:"accesslog"`
	} `yaml:"log"`
	HTTP struct {
		Addr string `yaml:"addr"`
		TLS  struct {
			Certificate string `yaml:"certificate"`
			Key         string `yaml:"key"`
		} `yaml:"tls"`
	} `yaml:"http"`
	Auth struct {
		Htpasswd *struct {
			Realm string `yaml:"realm"`
			Path  string `yaml:"path"`
		} `yaml:"htpasswd"`
		Token *tokenSettings `yaml:"token"`
	} `yaml:"auth"`
	Proxy   proxySettings `yaml:"proxy"`
	Storage struct {
		Filesystem struct {
			RootDirectory string `yaml:"rootdirectory"`
		} `yaml:"filesystem"`
		Delete struct {
			Enabled *bool `yaml:"enabled"`
		} `yaml:"delete"`
		Maintenance struct {
			ReadOnly struct {
				Enabled bool `yaml:"enabled"`
			} `yaml:"readonly"`
		} `yaml:"maintenance"`
	} `yaml:"storage"`
}

func loadRegistrySettings(configPath string, getenv func(string) string) (registrySettings, error) {
	s := registrySettings{Addr: ":5000", Realm: "berth registry", DeleteEnabled: true}
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return s, withHint(fmt.Errorf("reading registry config: %w", err), "pass a registry:2 style config.yml")
		}
		var c registryConfigFile
		if err := yaml.Unmarshal(data, &c); err != nil {
			return s, fmt.Errorf("parsing %s: %w", configPath, err)
		}
		s.Proxy = c.Proxy
		set(&s.LogLevel, c.Log.Level)
		s.NoAccessLog = c.Log.AccessLog.Disabled
		set(&s.Addr, c.HTTP.Addr)
		set(&s.TLSCert, c.HTTP.TLS.Certificate)
		set(&s.TLSKey, c.HTTP.TLS.Key)
		if c.Auth.Htpasswd != nil {
			set(&s.Realm, c.Auth.Htpasswd.Realm)
			set(&s.Htpasswd, c.Auth.Htpasswd.Path)
		}
		if c.Auth.Token != nil {
			s.Token = *c.Auth.Token
		}
		set(&s.Root, c.Storage.Filesystem.RootDirectory)
		if c.Storage.Delete.Enabled != nil {
			s.DeleteEnabled = *c.Storage.Delete.Enabled
		}
		s.ReadOnly = c.Storage.Maintenance.ReadOnly.Enabled
	}
	set(&s.Addr, getenv("REGISTRY_HTTP_ADDR"))
	set(&s.TLSCert, getenv("REGISTRY_HTTP_TLS_CERTIFICATE"))
	set(&s.TLSKey, getenv("REGISTRY_HTTP_TLS_KEY"))
	set(&s.Root, getenv("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"))
	if v := getenv("REGISTRY_AUTH"); v != "" && v != "htpasswd" && v != "token" {
		return s, withHint(fmt.Errorf("REGISTRY_AUTH=%s is not supported", v), "berth supports REGISTRY_AUTH=htpasswd and REGISTRY_AUTH=token")
	}
	set(&s.Token.Realm, getenv("REGISTRY_AUTH_TOKEN_REALM"))
	set(&s.Token.Service, getenv("REGISTRY_AUTH_TOKEN_SERVICE"))
	set(&s.Token.Issuer, getenv("REGISTRY_AUTH_TOKEN_ISSUER"))
	set(&s.Token.RootCertBundle, getenv("REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE"))
	if getenv("REGISTRY_AUTH") == "token" && !s.Token.enabled() {
		return s, withHint(errors.New("REGISTRY_AUTH=token needs REGISTRY_AUTH_TOKEN_REALM, _SERVICE, _ISSUER and _ROOTCERTBUNDLE"), "set them as for registry:2")
	}
	if s.Token.enabled() {
		if s.Token.Realm == "" || s.Token.Service == "" || s.Token.Issuer == "" || s.Token.RootCertBundle == "" {
			return s, withHint(errors.New("token auth needs realm, service, issuer and rootcertbundle"), "set auth.token in config.yml or REGISTRY_AUTH_TOKEN_* as for registry:2")
		}
		if getenv("REGISTRY_AUTH") == "token" {
			s.Htpasswd = "" // REGISTRY_AUTH picks the one in force
		}
	}
	if getenv("REGISTRY_AUTH") == "htpasswd" || getenv("REGISTRY_AUTH_HTPASSWD_PATH") != "" {
		set(&s.Htpasswd, getenv("REGISTRY_AUTH_HTPASSWD_PATH"))
		set(&s.Realm, getenv("REGISTRY_AUTH_HTPASSWD_REALM"))
		if s.Htpasswd == "" {
			return s, withHint(errors.New("REGISTRY_AUTH=htpasswd needs REGISTRY_AUTH_HTPASSWD_PATH"), "point it at a file made with `berth registry htpasswd -Bc FILE USER`")
		}
	}
	if v := getenv("REGISTRY_STORAGE_DELETE_ENABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("REGISTRY_STORAGE_DELETE_ENABLED=%q is not a boolean", v)
		}
		s.DeleteEnabled = b
	}
	set(&s.Proxy.RemoteURL, getenv("REGISTRY_PROXY_REMOTEURL"))
	set(&s.Proxy.Username, getenv("REGISTRY_PROXY_USERNAME"))
	set(&s.Proxy.Password, getenv("REGISTRY_PROXY_PASSWORD"))
	if s.Proxy.RemoteURL != "" {
		if u, err := url.Parse(s.Proxy.RemoteURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return s, withHint(fmt.Errorf("proxy remote URL %q is not an http(s) URL", s.Proxy.RemoteURL), "for Docker Hub: REGISTRY_PROXY_REMOTEURL=https://registry-1.docker.io")
		}
	}
	set(&s.LogLevel, getenv("REGISTRY_LOG_LEVEL"))
	if v := getenv("REGISTRY_LOG_ACCESSLOG_DISABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("REGISTRY_LOG_ACCESSLOG_DISABLED=%q is not a boolean", v)
		}
		s.NoAccessLog = b
	}
	if s.LogLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(s.LogLevel)); err != nil {
			return s, fmt.Errorf("log level %q: want error, warn, info or debug", s.LogLevel)
		}
	}
	if v := getenv("REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED"); v != "" {
		b, _ := strconv.ParseBool(v)
		s.ReadOnly = b
	}
	return s, nil
}

// authKind names the auth in force for the startup log line.
func authKind(s registrySettings) string {
	switch {
	case s.Token.enabled():
		return "token"
	case s.Htpasswd != "":
		return "htpasswd"
	}
	return "none"
}

func set(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func registryRoot(flag string, s registrySettings) string {
	if flag != "" {
		return flag
	}
	if s.Root != "" {
		return s.Root
	}
	return filepath.Join(store.DefaultRoot(), "registry")
}

func (a *app) newRegistryServeCmd() *cobra.Command {
	var (
		configPath, root, addr, htpasswd, realm, cert, key string
		readOnly, noDelete                                 bool
		gcInterval, gcDelay                                time.Duration
		maxBlob                                            int64
	)
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve an OCI distribution registry (a drop-in for registry:2)",
		Long: "Serve an OCI distribution registry over HTTP(S).\n\n" +
			"Settings come from --config (registry:2's config.yml keys), then the REGISTRY_* variables registry:2 reads\n" +
			"(REGISTRY_HTTP_ADDR, REGISTRY_AUTH=htpasswd, REGISTRY_AUTH_HTPASSWD_REALM/PATH, REGISTRY_AUTH=token, REGISTRY_AUTH_TOKEN_REALM/SERVICE/ISSUER/ROOTCERTBUNDLE, REGISTRY_LOG_LEVEL, REGISTRY_LOG_ACCESSLOG_DISABLED, REGISTRY_PROXY_REMOTEURL/USERNAME/PASSWORD, REGISTRY_HTTP_TLS_CERTIFICATE/KEY,\n" +
			"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY, REGISTRY_STORAGE_DELETE_ENABLED), then flags.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadRegistrySettings(configPath, os.Getenv)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			if f.Changed("addr") {
				s.Addr = addr
			}
			if f.Changed("htpasswd") {
				s.Htpasswd = htpasswd
			}
			if f.Changed("realm") {
				s.Realm = realm
			}
			if f.Changed("tls-cert") {
				s.TLSCert = cert
			}
			if f.Changed("tls-key") {
				s.TLSKey = key
			}
			if readOnly {
				s.ReadOnly = true
			}
			if noDelete {
				s.DeleteEnabled = false
			}
			s.Root = registryRoot(root, s)
			// Access logs are Info records: -l, else registry:2's log.level,
			// sets the level; log.accesslog.disabled drops them.
			accessLevel := slog.LevelInfo
			if cmd.Flags().Changed("log-level") {
				_ = accessLevel.UnmarshalText([]byte(a.logLevel))
			} else if s.LogLevel != "" {
				_ = accessLevel.UnmarshalText([]byte(s.LogLevel))
			}
			if s.NoAccessLog && accessLevel <= slog.LevelInfo {
				accessLevel = slog.LevelWarn
			}
			return a.serveRegistry(cmd.Context(), s, serveExtras{gcInterval, gcDelay, maxBlob, accessLevel})
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "registry:2 style config.yml")
	f.StringVar(&root, "root", "", "Registry storage directory (default $REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY, else <berth data dir>/registry)")
	f.StringVar(&addr, "addr", ":5000", "Address to listen on (default $REGISTRY_HTTP_ADDR, else :5000)")
	f.StringVar(&htpasswd, "htpasswd", "", "Require Basic auth against this htpasswd file (bcrypt entries)")
	f.StringVar(&realm, "realm", "berth registry", "Basic auth realm")
	f.StringVar(&cert, "tls-cert", "", "TLS certificate (PEM)")
	f.StringVar(&key, "tls-key", "", "TLS private key (PEM)")
	f.BoolVar(&readOnly, "read-only", false, "Refuse pushes and deletions")
	f.BoolVar(&noDelete, "disable-delete", false, "Refuse blob, manifest and tag deletion")
	f.DurationVar(&gcInterval, "gc-interval", 0, "Run garbage collection this often while serving (0 disables)")
	f.DurationVar(&gcDelay, "gc-delay", time.Hour, "Keep unreferenced blobs younger than this in automatic collections")
	f.Int64Var(&maxBlob, "max-blob-size", 1<<40, "Refuse blobs larger than this many bytes")
	return cmd
}

// serveExtras are serve's settings that registry:2 has no variable for.
type serveExtras struct {
	gcInterval, gcDelay time.Duration
	maxBlobSize         int64
	logLevel            slog.Level // access logs are Info; -l warn silences them
}

func (a *app) serveRegistry(ctx context.Context, s registrySettings, x serveExtras) error {
	log := slog.New(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: x.logLevel}))
	drv, err := storage.NewFS(s.Root)
	if err != nil {
		return withHint(err, "pass a writable directory with --root")
	}
	opts := registry.Options{Driver: drv, Logger: log, Realm: s.Realm, ReadOnly: s.ReadOnly, DisableDelete: !s.DeleteEnabled, MaxBlobSize: x.maxBlobSize}
	if s.Token.enabled() && s.Htpasswd != "" {
		return usageError{errors.New("both htpasswd and token auth are configured; registry:2 takes one")}
	}
	if s.Proxy.RemoteURL != "" {
		up, err := newRegistryUpstream(s.Proxy)
		if err != nil {
			return err
		}
		opts.Upstream = up
	}
	if s.Token.enabled() {
		v, err := auth.NewTokenVerifier(s.Token.Issuer, s.Token.Service, s.Token.RootCertBundle)
		if err != nil {
			return withHint(err, "rootcertbundle is the PEM file of the certificates that sign the token server's tokens")
		}
		opts.Token, opts.TokenRealm, opts.TokenService = v, s.Token.Realm, s.Token.Service
	}
	if s.Htpasswd != "" {
		v, err := auth.NewVerifier(s.Htpasswd, auth.Options{})
		if err != nil {
			return withHint(err, "create it with `berth registry htpasswd -Bc FILE USER`")
		}
		opts.Auth = v
	}
	srv, err := registry.New(opts)
	if err != nil {
		return err
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if s.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
		if err != nil {
			return withHint(fmt.Errorf("loading TLS certificate: %w", err), "pass a PEM certificate and its key")
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.Addr, err)
	}
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	// The address line is printed whatever the level: with --addr :0 it is
	// the only way to learn the port.
	log.Log(ctx, max(slog.LevelInfo, x.logLevel), "listening", "addr", ln.Addr().String(), "root", s.Root, "tls", hs.TLSConfig != nil, "auth", authKind(s), "read_only", s.ReadOnly, "proxy", s.Proxy.RemoteURL)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	gcCtx, stopGC := context.WithCancel(context.Background())
	defer stopGC()
	if x.gcInterval > 0 && !s.ReadOnly {
		go autoGC(gcCtx, drv, log, x.gcInterval, x.gcDelay)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	// SIGTERM or Ctrl-C: stop accepting, finish the requests in flight.
	log.Info("shutting down")
	stopGC()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

func autoGC(ctx context.Context, drv storage.Driver, log *slog.Logger, every, delay time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := registry.GC(ctx, drv, registry.GCOptions{Delay: delay})
		if err != nil {
			log.Error("garbage collection", "err", err)
			continue
		}
		log.Info("garbage collection", "deleted", len(res.Items), "bytes", res.Bytes)
	}
}

func (a *app) newRegistryGCCmd() *cobra.Command {
	var (
		root, configPath    string
		dryRun, untagged    bool
		delay, uploadMaxAge time.Duration
	)
	cmd := &cobra.Command{
		Use:   "gc [flags]",
		Short: "Delete unreferenced blobs from a registry's storage (safe while it serves)",
		Long: "Delete blobs no manifest references, stale upload sessions and, with --delete-untagged, manifests no tag\n" +
			"reaches. It is safe while `berth registry serve` runs on the same storage: a blob a push has linked or\n" +
			"referenced is never deleted, and a blob uploaded into a repository is kept for at least 10 minutes (the\n" +
			"time a client has to push the manifest that needs it), whatever --delay says.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadRegistrySettings(configPath, os.Getenv)
			if err != nil {
				return err
			}
			dir := registryRoot(root, s)
			if _, err := os.Stat(dir); err != nil {
				return withHint(fmt.Errorf("registry storage %s: %w", dir, err), "pass the directory `berth registry serve` uses with --root")
			}
			drv, err := storage.NewFS(dir)
			if err != nil {
				return err
			}
			res, err := registry.GC(cmd.Context(), drv, registry.GCOptions{
				DryRun: dryRun, DeleteUntagged: untagged, Delay: delay, UploadMaxAge: uploadMaxAge, Logger: a.logger(),
			})
			verb := "deleted"
			if dryRun {
				verb = "would delete"
			}
			for _, it := range res.Items {
				switch it.Kind {
				case "blob":
					fmt.Fprintf(a.stdout, "%s blob %s (%s)\n", verb, it.Digest, output.HumanSize(it.Size))
				case "manifest", "link":
					fmt.Fprintf(a.stdout, "%s %s %s@%s\n", verb, it.Kind, it.Repo, it.Digest)
				default:
					fmt.Fprintf(a.stdout, "%s %s %s\n", verb, it.Kind, it.Digest)
				}
			}
			if err != nil {
				return fmt.Errorf("garbage collection: %w", err)
			}
			fmt.Fprintf(a.stdout, "Total reclaimed space: %s\n", output.HumanSize(res.Bytes))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&root, "root", "", "Registry storage directory (default as for serve)")
	f.StringVar(&configPath, "config", "", "registry:2 style config.yml")
	f.BoolVar(&dryRun, "dry-run", false, "Print what would be deleted and delete nothing")
	f.BoolVar(&untagged, "delete-untagged", false, "Also delete manifests no tag reaches")
	f.DurationVar(&delay, "delay", time.Hour, "Keep unreferenced content younger than this")
	f.DurationVar(&uploadMaxAge, "upload-max-age", 24*time.Hour, "Delete upload sessions idle longer than this")
	return cmd
}

func (a *app) newRegistryHtpasswdCmd() *cobra.Command {
	var create, bcryptFlag, stdin, batch bool
	var cost int
	cmd := &cobra.Command{
		Use:   "htpasswd [-c] [-B] [-b] FILE USER [PASSWORD]",
		Short: "Add or update a user in an htpasswd file (bcrypt, as Apache's htpasswd -B)",
		Long: "Add or update a user in an htpasswd file, with Apache htpasswd's flags: -c creates the file, -B (bcrypt)\n" +
			"is always on, -b takes the password from the command line (visible to other users: prefer --password-stdin).",
		Args: rangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 3) != batch {
				return usageError{errors.New("the PASSWORD argument goes with -b, and -b needs it")}
			}
			_ = bcryptFlag // bcrypt is the only format berth writes; -B is accepted for Apache's spelling
			file, user := args[0], args[1]
			if !auth.ValidUser(user) {
				return usageError{fmt.Errorf("invalid user name %q: it must not be empty or contain ':'", user)}
			}
			if cost != 0 && (cost < 4 || cost > 17) {
				return usageError{fmt.Errorf("bcrypt cost %d out of range 4..17", cost)}
			}
			var old []byte
			var err error
			if !create {
				b, err := os.ReadFile(file)
				if err != nil {
					return withHint(fmt.Errorf("reading %s: %w", file, err), "use -c to create a new file")
				}
				if _, err := auth.ParseHtpasswd(strings.NewReader(string(b))); err != nil {
					return err
				}
				old = b
			}
			var pw string
			if batch {
				pw = args[2]
			} else if pw, err = a.readPassword(stdin); err != nil {
				return err
			}
			if pw == "" {
				return errors.New("empty password")
			}
			hash, err := auth.HashPassword(pw, cost)
			if err != nil {
				return fmt.Errorf("hashing password: %w", err)
			}
			data, err := auth.SetUser(old, user, hash)
			if err != nil {
				return err
			}
			if err := fsutil.WriteFileAtomic(file, data, 0o640); err != nil {
				return err
			}
			verb := "Updating"
			if create || !strings.Contains(string(old), user+":") {
				verb = "Adding"
			}
			fmt.Fprintf(a.stderr, "%s password for user %s\n", verb, user)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&create, "create", "c", false, "Create the file (rewrite it if it exists)")
	f.BoolVarP(&bcryptFlag, "bcrypt", "B", true, "Use bcrypt (always on; accepted for Apache's spelling)")
	f.IntVarP(&cost, "cost", "C", 0, "bcrypt cost (4-17, default 10)")
	f.BoolVar(&stdin, "password-stdin", false, "Read the password from stdin")
	f.BoolVarP(&batch, "batch", "b", false, "Take the password from the command line")
	return cmd
}

// readPassword reads a password from stdin (--password-stdin) or prompts
// twice on the terminal with echo off.
func (a *app) readPassword(fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(a.stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("reading password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password on stdin")
		}
		return pw, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", withHint(errors.New("no terminal to prompt for the password"), "use --password-stdin")
	}
	defer tty.Close()
	ask := func(prompt string) (string, error) {
		fmt.Fprint(tty, prompt)
		fd := int(tty.Fd())
		old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err == nil {
			quiet := *old
			quiet.Lflag &^= unix.ECHO
			unix.IoctlSetTermios(fd, unix.TCSETS, &quiet)
			defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
		}
		line, err := bufio.NewReader(tty).ReadString('\n')
		fmt.Fprintln(tty)
		return strings.TrimRight(line, "\r\n"), err
	}
	p1, err := ask("New password: ")
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	p2, err := ask("Re-type new password: ")
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	if p1 != p2 {
		return "", errors.New("password verification error")
	}
	if p1 == "" {
		return "", errors.New("empty password")
	}
	return p1, nil
}
