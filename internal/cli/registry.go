package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/config"
	"github.com/berth-dev/berth/internal/registry/serve"
	"github.com/berth-dev/berth/internal/store"
)

func (a *app) newRegistryCmd() *cobra.Command {
	cmd := groupCmd("registry", "Run and maintain an OCI distribution registry")
	cmd.AddCommand(a.newRegistryServeCmd(), a.newRegistryGCCmd(), a.newRegistryHtpasswdCmd())
	return cmd
}

// registryFlags are serve's and gc's flags that override the configuration
// (config.yml, then REGISTRY_* variables).
type registryFlags struct {
	configPath, root, addr, htpasswd, realm, cert, key string
	readOnly, noDelete                                 bool
	storage                                            string
	s3                                                 config.S3
	s3Redirect                                         bool
	leaseTTL                                           time.Duration
}

func (rf *registryFlags) addStorage(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&rf.configPath, "config", "", "registry:2 style config.yml")
	f.StringVar(&rf.root, "root", "", "Registry storage directory (default $REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY, else <berth data dir>/registry)")
	f.StringVar(&rf.storage, "storage", "", "Storage driver: filesystem or s3 (default $REGISTRY_STORAGE, else filesystem)")
	f.StringVar(&rf.s3.Bucket, "s3-bucket", "", "S3 bucket (storage.s3.bucket)")
	f.StringVar(&rf.s3.Region, "s3-region", "", "S3 region (default $AWS_REGION, else us-east-1)")
	f.StringVar(&rf.s3.RegionEndpoint, "s3-endpoint", "", "S3 endpoint URL of an S3-compatible store (storage.s3.regionendpoint)")
	f.BoolVar(&rf.s3.ForcePathStyle, "s3-path-style", false, "Address the bucket in the path, not the host name (storage.s3.forcepathstyle)")
	f.StringVar(&rf.s3.RootDirectory, "s3-root", "", "Key prefix of everything the registry stores in the bucket (storage.s3.rootdirectory)")
	f.StringVar(&rf.s3.AccessKey, "s3-access-key", "", "S3 access key (default: the AWS SDK's chain: $AWS_ACCESS_KEY_ID, ~/.aws, instance roles)")
	f.StringVar(&rf.s3.SecretKey, "s3-secret-key", "", "S3 secret key (prefer $AWS_SECRET_ACCESS_KEY: flags are visible to other users)")
	f.Int64Var(&rf.s3.ChunkSize, "s3-chunk-size", 0, "Multipart part size in bytes, at least 5 MiB (storage.s3.chunksize, default 10 MiB)")
	f.DurationVar(&rf.leaseTTL, "gc-lease-ttl", registry.DefaultLeaseTTL, "Lifetime of the GC lease on storage shared without locks (S3); the same on every replica and collector")
	f.BoolVar(&rf.s3Redirect, "s3-redirect", true, "Answer blob GETs with presigned S3 URLs, so blob bytes never pass through berth (false: storage.redirect.disable)")
}

// load reads the configuration and applies the flags the user set.
func (rf *registryFlags) load(f interface{ Changed(string) bool }) (*config.Config, error) {
	c, err := config.Load(rf.configPath, os.Getenv, os.Environ())
	if err != nil {
		if rf.configPath != "" && errors.Is(err, fs.ErrNotExist) {
			return nil, withHint(err, "pass a registry:2 style config.yml")
		}
		return nil, usageError{err}
	}
	if f.Changed("root") {
		c.Storage.Filesystem = &config.Filesystem{RootDirectory: rf.root}
		c.Storage.S3 = nil
	}
	switch rf.storage {
	case "":
	case "filesystem":
		if c.Storage.Filesystem == nil {
			c.Storage.Filesystem = &config.Filesystem{}
		}
		c.Storage.S3 = nil
	case "s3":
		if c.Storage.S3 == nil {
			c.Storage.S3 = &config.S3{}
		}
		c.Storage.Filesystem = nil
	default:
		return nil, usageError{fmt.Errorf("--storage %q: want filesystem or s3", rf.storage)}
	}
	if s3 := c.Storage.S3; s3 != nil {
		flagSet := func(name string, dst *string, v string) {
			if f.Changed(name) {
				*dst = v
			}
		}
		flagSet("s3-bucket", &s3.Bucket, rf.s3.Bucket)
		flagSet("s3-region", &s3.Region, rf.s3.Region)
		flagSet("s3-endpoint", &s3.RegionEndpoint, rf.s3.RegionEndpoint)
		flagSet("s3-root", &s3.RootDirectory, rf.s3.RootDirectory)
		flagSet("s3-access-key", &s3.AccessKey, rf.s3.AccessKey)
		flagSet("s3-secret-key", &s3.SecretKey, rf.s3.SecretKey)
		if f.Changed("s3-path-style") {
			s3.ForcePathStyle = rf.s3.ForcePathStyle
		}
		if f.Changed("s3-chunk-size") {
			s3.ChunkSize = rf.s3.ChunkSize
		}
		if f.Changed("s3-redirect") {
			c.Storage.Redirect.Disable = !rf.s3Redirect
		}
	} else if f.Changed("s3-bucket") || f.Changed("s3-endpoint") {
		return nil, usageError{errors.New("the --s3-* flags go with --storage s3 (or REGISTRY_STORAGE=s3)")}
	}
	if f.Changed("addr") {
		c.HTTP.Addr = rf.addr
	}
	if f.Changed("htpasswd") {
		if c.Auth.Token != nil {
			return nil, usageError{errors.New("both htpasswd and token auth are configured; registry:2 takes one")}
		}
		realm := ""
		if c.Auth.Htpasswd != nil {
			realm = c.Auth.Htpasswd.Realm
		}
		c.Auth.Htpasswd = &struct {
			Realm string `yaml:"realm"`
			Path  string `yaml:"path"`
		}{realm, rf.htpasswd}
	}
	if h := c.Auth.Htpasswd; h != nil {
		if f.Changed("realm") || h.Realm == "" {
			h.Realm = rf.realm
		}
	}
	if f.Changed("tls-cert") {
		c.HTTP.TLS.Certificate = rf.cert
	}
	if f.Changed("tls-key") {
		c.HTTP.TLS.Key = rf.key
	}
	if (c.HTTP.TLS.Certificate == "") != (c.HTTP.TLS.Key == "") {
		return nil, usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	if rf.readOnly {
		c.Storage.Maintenance.ReadOnly.Enabled = true
	}
	if rf.noDelete {
		off := false
		c.Storage.Delete.Enabled = &off
	}
	if s3 := c.Storage.S3; s3 != nil && s3.Bucket == "" {
		return nil, usageError{errors.New("storage.s3.bucket: a bucket is required (--s3-bucket, REGISTRY_STORAGE_S3_BUCKET)")}
	}
	return c, nil
}

func defaultRegistryRoot() string { return filepath.Join(store.DefaultRoot(), "registry") }

func (a *app) newRegistryServeCmd() *cobra.Command {
	var (
		rf                  registryFlags
		gcInterval, gcDelay time.Duration
		maxBlob             int64
	)
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve an OCI distribution registry (a drop-in for registry:2)",
		Long: "Serve an OCI distribution registry over HTTP(S), on a directory or on S3-compatible object storage\n" +
			"(several replicas can share one bucket).\n\n" +
			"Settings come from --config (registry:2's config.yml: every key either takes effect or is refused with an\n" +
			"error naming it), then the REGISTRY_* variables registry:2 reads (REGISTRY_HTTP_ADDR is http.addr,\n" +
			"REGISTRY_STORAGE=s3 with REGISTRY_STORAGE_S3_BUCKET, _REGION, _REGIONENDPOINT, _ACCESSKEY, _SECRETKEY,\n" +
			"_ROOTDIRECTORY, _FORCEPATHSTYLE, _CHUNKSIZE, _SECURE, REGISTRY_AUTH=htpasswd with REGISTRY_AUTH_HTPASSWD_PATH,\n" +
			"and so on for every key), then flags.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := rf.load(cmd.Flags())
			if err != nil {
				return err
			}
			var level *slog.Level
			if cmd.Flags().Changed("log-level") {
				var l slog.Level
				_ = l.UnmarshalText([]byte(a.logLevel))
				level = &l
			}
			err = serve.Run(cmd.Context(), serve.Options{
				Config: c, DefaultRoot: defaultRegistryRoot(), Stderr: a.stderr, LogLevel: level,
				Upstream: a.registryUpstream, GCInterval: gcInterval, GCDelay: gcDelay, MaxBlobSize: maxBlob, LeaseTTL: rf.leaseTTL,
			})
			var ue serve.UsageError
			if errors.As(err, &ue) {
				return usageError{err}
			}
			return err
		},
	}
	f := cmd.Flags()
	rf.addStorage(cmd)
	f.StringVar(&rf.addr, "addr", ":5000", "Address to listen on (default $REGISTRY_HTTP_ADDR, else :5000)")
	f.StringVar(&rf.htpasswd, "htpasswd", "", "Require Basic auth against this htpasswd file (bcrypt entries)")
	f.StringVar(&rf.realm, "realm", "berth registry", "Basic auth realm")
	f.StringVar(&rf.cert, "tls-cert", "", "TLS certificate (PEM)")
	f.StringVar(&rf.key, "tls-key", "", "TLS private key (PEM)")
	f.BoolVar(&rf.readOnly, "read-only", false, "Refuse pushes and deletions")
	f.BoolVar(&rf.noDelete, "disable-delete", false, "Refuse blob, manifest and tag deletion")
	f.DurationVar(&gcInterval, "gc-interval", 0, "Run garbage collection this often while serving (0 disables)")
	f.DurationVar(&gcDelay, "gc-delay", time.Hour, "Keep unreferenced blobs younger than this in automatic collections")
	f.Int64Var(&maxBlob, "max-blob-size", 1<<40, "Refuse blobs larger than this many bytes")
	return cmd
}

func (a *app) newRegistryGCCmd() *cobra.Command {
	var (
		rf                  registryFlags
		dryRun, untagged    bool
		delay, uploadMaxAge time.Duration
	)
	cmd := &cobra.Command{
		Use:   "gc [flags]",
		Short: "Delete unreferenced blobs from a registry's storage (safe while it serves)",
		Long: "Delete blobs no manifest references, stale upload sessions and, with --delete-untagged, manifests no tag\n" +
			"reaches. It is safe while `berth registry serve` runs on the same storage: a blob a push has linked or\n" +
			"referenced is never deleted, and a blob uploaded into a repository is kept for at least 10 minutes (the\n" +
			"time a client has to push the manifest that needs it), whatever --delay says. On S3 the replicas and this\n" +
			"command take turns through a lease object in the bucket.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := rf.load(cmd.Flags())
			if err != nil {
				return err
			}
			if err := serve.CheckRoot(c, defaultRegistryRoot()); err != nil {
				return withHint(err, "pass the directory `berth registry serve` uses with --root")
			}
			drv, _, err := serve.OpenStorage(cmd.Context(), c, defaultRegistryRoot(), a.logger())
			if err != nil {
				return err
			}
			res, err := registry.GC(cmd.Context(), drv, registry.GCOptions{
				DryRun: dryRun, DeleteUntagged: untagged, Delay: delay, UploadMaxAge: uploadMaxAge, Logger: a.logger(), LeaseTTL: rf.leaseTTL,
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
	rf.addStorage(cmd)
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
