package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	scalibrlog "github.com/google/osv-scalibr/log"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/scan/report"
	"github.com/berth-dev/berth/internal/scan/vulndb"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// exitScanError is the status of a scan or database error (trivy's and
// Scout's convention), distinct from a tripped --exit-code gate.
const exitScanError = 2

// scanFlags are shared by `scan`, `scout cves` and `sbom`.
type scanFlags struct {
	rootfs     string
	input      string
	format     string
	output     string
	severity   string
	exitCode   int
	unfixed    bool
	ignoreFile string
	dbPath     string
	maxAgeDays int
	// The database's update: where from, and whether at all.
	repositories []string
	skipUpdate   bool
	offline      bool
	noProgress   bool
	noCache      bool
	platform     string
	quiet        bool
	timeout      time.Duration
}

func (a *app) newScanCmd() *cobra.Command {
	var f scanFlags
	var downloadOnly bool
	cmd := &cobra.Command{
		Use:   "scan [OPTIONS] IMAGE",
		Short: "Scan an image for known vulnerabilities",
		Long: "Scan an image (in the store, an archive, an OCI layout, a registry reference) or a root filesystem\n" +
			"(--rootfs) against the local vulnerability database. When the database lacks the ecosystems the\n" +
			"image has packages in, or is older than --db-max-age, their OSV exports are fetched first (from\n" +
			"--db-repository, osv.dev by default); nothing about the image is sent. --offline and\n" +
			"--skip-db-update scan with the database as it is.",
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if downloadOnly {
				// trivy's way to warm a CI cache: the whole database, no scan.
				if len(args) > 0 || f.offline || f.skipUpdate {
					return usageError{errors.New("--download-db-only takes no IMAGE, --offline or --skip-db-update")}
				}
				start := time.Now()
				res, err := a.updateDB(cmd.Context(), f, nil, 0)
				writeUpdateResult(a.stderr, res, time.Since(start))
				return scanFailure(err, dbFetchHint)
			}
			sev, err := parseSeverities(f.severity)
			if err != nil {
				return usageError{err}
			}
			target, err := targetArg(args, f)
			if err != nil {
				return err
			}
			return a.runScan(cmd.Context(), target, f, scan.Policy{Severities: sev, IgnoreUnfixed: f.unfixed}, f.exitCode)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rootfs, "rootfs", "", "Scan a root filesystem directory instead of an image")
	fl.StringVar(&f.input, "input", "", "Scan an image archive file (docker save format)")
	fl.StringVarP(&f.format, "format", "f", "table", "Output format (table, json, sarif, cyclonedx, spdx-json, packages)")
	fl.StringVarP(&f.output, "output", "o", "", "Write the report to a file instead of stdout")
	fl.StringVarP(&f.severity, "severity", "s", strings.Join(reverse(scan.Severities), ","), "Severities to report, comma separated")
	fl.IntVar(&f.exitCode, "exit-code", 0, "Exit code when vulnerabilities are found")
	fl.BoolVar(&f.unfixed, "ignore-unfixed", false, "Report only vulnerabilities with a fixed version")
	fl.StringVar(&f.ignoreFile, "ignorefile", ".trivyignore", "Ignore file: .trivyignore (one id per line, optional exp:YYYY-MM-DD) or .trivyignore.yaml (id, paths, purls, expired_at)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "Suppress warnings")
	fl.DurationVar(&f.timeout, "timeout", 0, "Give up after this long (e.g. 5m)")
	// trivy flags that scripts pass and berth's design makes moot.
	var ignoredBool bool
	var ignoredStr string
	fl.BoolVar(&downloadOnly, "download-db-only", false, "Update the whole vulnerability database and exit (trivy's flag; the same as `berth scan db update`)")
	fl.BoolVar(&ignoredBool, "skip-java-db-update", false, "Accepted for trivy compatibility; berth has no separate Java database")
	_ = fl.MarkHidden("skip-java-db-update")
	fl.StringVar(&ignoredStr, "scanners", "vuln", "Accepted for trivy compatibility; berth scans for vulnerabilities")
	fl.StringVar(&ignoredStr, "cache-dir", "", "Accepted for trivy compatibility; the cache lives in ROOT/scan")
	_ = fl.MarkHidden("scanners")
	_ = fl.MarkHidden("cache-dir")
	a.dbFlags(cmd, &f)
	cmd.AddCommand(a.newScanDBCmd(&f))
	return cmd
}

func (a *app) newScoutCmd() *cobra.Command {
	scout := groupCmd("scout", "Docker Scout compatible commands (offline)")
	var f scanFlags
	var onlySev string
	var gate bool
	cves := &cobra.Command{
		Use:   "cves [OPTIONS] IMAGE",
		Short: "Display the CVEs of an image's packages",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sev, err := parseSeverities(onlySev)
			if err != nil {
				return usageError{err}
			}
			target, err := targetArg(args, f)
			if err != nil {
				return err
			}
			if f.format == "list" {
				f.format = "table"
			}
			code := 0
			if gate {
				code = exitScanError // Docker Scout's --exit-code returns 2
			}
			return a.runScan(cmd.Context(), target, f, scan.Policy{Severities: sev, IgnoreUnfixed: f.unfixed}, code)
		},
	}
	fl := cves.Flags()
	fl.StringVar(&onlySev, "only-severity", "", "Comma separated severities to show (critical, high, medium, low, unspecified)")
	fl.BoolVar(&f.unfixed, "only-fixed", false, "Show only CVEs with a fix")
	fl.BoolVarP(&gate, "exit-code", "e", false, "Return exit code 2 if vulnerabilities are found")
	fl.StringVar(&f.format, "format", "packages", "Output format (packages, list, json, sarif, cyclonedx, spdx-json)")
	fl.StringVarP(&f.output, "output", "o", "", "Write the report to a file")
	fl.StringVar(&f.rootfs, "rootfs", "", "Scan a root filesystem directory instead of an image")
	fl.StringVar(&f.ignoreFile, "ignorefile", ".trivyignore", "Ignore file")
	a.dbFlags(cves, &f)
	scout.AddCommand(cves)
	return scout
}

func (a *app) newSBOMCmd() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "sbom [OPTIONS] IMAGE",
		Short: "Print the software bill of materials of an image",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := targetArg(args, f)
			if err != nil {
				return err
			}
			switch f.format {
			case "table", "cyclonedx", "cyclonedx-json", "spdx-json", "json":
			default:
				return usageError{fmt.Errorf("unknown format %q (want table, cyclonedx-json, spdx-json or json)", f.format)}
			}
			ctx := cmd.Context()
			rep, err := a.inventory(ctx, target, f)
			if err != nil {
				return scanFailure(err, "")
			}
			return a.emit(f, func(w io.Writer) error {
				switch f.format {
				case "cyclonedx", "cyclonedx-json":
					return report.CycloneDX(w, rep, false)
				case "spdx-json":
					return report.SPDX(w, rep)
				case "json":
					return report.JSON(w, rep)
				}
				return report.Packages(w, rep)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "table", "Output format (table, cyclonedx-json, spdx-json, json)")
	fl.StringVarP(&f.output, "output", "o", "", "Write the SBOM to a file")
	fl.StringVar(&f.rootfs, "rootfs", "", "Inventory a root filesystem directory instead of an image")
	fl.BoolVar(&f.noCache, "no-cache", false, "Do not read or write the per-layer inventory cache")
	fl.StringVar(&f.platform, "platform", "", "Platform of a multi-platform image")
	return cmd
}

func targetArg(args []string, f scanFlags) (string, error) {
	switch {
	case f.rootfs != "" && len(args) == 0:
		return "", nil
	case f.input != "" && len(args) == 0:
		return f.input, nil
	case len(args) == 1 && f.rootfs == "" && f.input == "":
		return args[0], nil
	}
	return "", usageError{errors.New("name exactly one of IMAGE, --input FILE or --rootfs DIR")}
}

func parseSeverities(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.ToUpper(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if p == "UNSPECIFIED" {
			p = "UNKNOWN"
		}
		if scan.SeverityRank(p) == 0 && p != "UNKNOWN" {
			return nil, fmt.Errorf("unknown severity %q (want CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN)", p)
		}
		out = append(out, p)
	}
	return out, nil
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[len(s)-1-i] = x
	}
	return out
}

func envInt(key string, def int) int {
	var n int
	if _, err := fmt.Sscanf(os.Getenv(key), "%d", &n); err == nil && n > 0 {
		return n
	}
	return def
}

// scanFailure makes err exit with status 2, with an optional hint line.
func scanFailure(err error, hint string) error {
	if err == nil {
		return nil
	}
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, context.Canceled) {
		return err // 125 and 130 keep their meaning
	}
	msg := err.Error()
	var h hinted // the cause's own advice (a registry's, the opener's)
	if hint == "" && errors.As(err, &h) {
		hint = h.hint
	}
	if hint != "" {
		msg += "\nhint: " + hint
	}
	return exitError{code: exitScanError, msg: msg}
}

// scanRoot is where berth keeps scan data: ROOT/scan, next to the store.
func (a *app) scanRoot() string {
	root := a.rootDir
	if root == "" {
		root = store.DefaultRoot()
	}
	return filepath.Join(root, "scan")
}

func (a *app) dbFile(f scanFlags) string {
	if f.dbPath != "" {
		return f.dbPath
	}
	return filepath.Join(a.scanRoot(), "vuln.db")
}

func (a *app) runScan(ctx context.Context, target string, f scanFlags, pol scan.Policy, gate int) error {
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	warnf := func(format string, args ...any) {
		if !f.quiet {
			fmt.Fprintf(a.stderr, "berth: warning: "+format+"\n", args...)
		}
	}
	if f.format == "" {
		f.format = "table"
	}
	if !validFormat(f.format) {
		return usageError{fmt.Errorf("unknown format %q (want %s)", f.format, strings.Join(report.Formats, ", "))}
	}
	updating := !f.offline && !f.skipUpdate
	if !updating {
		// Fail before reading the image when there is nothing to match.
		if _, err := os.Stat(a.dbFile(f)); err != nil {
			return scanFailure(fmt.Errorf("%w at %s", vulndb.ErrNoDatabase, a.dbFile(f)), dbHint)
		}
	}
	if f.ignoreFile != "" {
		fh, err := os.Open(f.ignoreFile)
		switch {
		case err == nil:
			if strings.HasSuffix(f.ignoreFile, ".yaml") || strings.HasSuffix(f.ignoreFile, ".yml") {
				pol.Ignore, err = scan.ParseIgnoreYAML(f.ignoreFile, fh)
			} else {
				pol.Ignore, err = scan.ParseIgnore(f.ignoreFile, fh)
			}
			fh.Close()
			if err != nil {
				return scanFailure(err, "")
			}
		case errors.Is(err, os.ErrNotExist) && f.ignoreFile == ".trivyignore":
		default:
			return scanFailure(fmt.Errorf("reading ignore file: %w", err), "")
		}
	}
	rep, err := a.inventory(ctx, target, f)
	if err != nil {
		return scanFailure(err, "")
	}
	ecosystems := scan.EcosystemsOf(rep.Inventory)
	if err := a.ensureDB(ctx, f, ecosystems, warnf); err != nil {
		return err
	}
	var findings []scan.Finding
	db, err := vulndb.Open(ctx, a.dbFile(f))
	switch {
	case err == nil:
		defer db.Close()
		st, serr := db.Status()
		if serr == nil && !updating {
			staleWarning(st, f, time.Now(), warnf)
		}
		findings, err = scan.Match(ctx, rep.Inventory, db)
		if err != nil {
			return scanFailure(fmt.Errorf("matching vulnerabilities: %w", err), "")
		}
		if serr == nil {
			unscoredHint(st, findings, warnf)
		}
	case errors.Is(err, vulndb.ErrNoDatabase) && len(ecosystems) == 0:
		// No package to match: nothing to look up.
	case errors.Is(err, vulndb.ErrNoDatabase), errors.Is(err, vulndb.ErrSchema):
		return scanFailure(err, dbHint)
	default:
		return scanFailure(err, "")
	}
	rep.Result = pol.Apply(findings)
	for _, n := range rep.Result.Notes {
		warnf("%s", n)
	}
	for _, w := range rep.Inventory.Warnings {
		warnf("%s", w)
	}
	if err := a.emit(f, func(w io.Writer) error { return report.Write(w, f.format, rep) }); err != nil {
		return err
	}
	if gate != 0 && len(rep.Result.Findings) > 0 {
		return exitError{code: gate}
	}
	return nil
}

func validFormat(s string) bool {
	for _, x := range report.Formats {
		if x == s {
			return true
		}
	}
	return false
}

// emit writes a report to stdout or, with -o, atomically to a file.
func (a *app) emit(f scanFlags, write func(io.Writer) error) error {
	if f.output == "" {
		return scanFailure(write(a.stdout), "")
	}
	dir := filepath.Dir(f.output)
	tmp, err := os.CreateTemp(dir, ".berth-report-*")
	if err != nil {
		return scanFailure(fmt.Errorf("writing %s: %w", f.output, err), "")
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return scanFailure(fmt.Errorf("writing %s: %w", f.output, err), "")
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return scanFailure(err, "")
	}
	if err := tmp.Close(); err != nil {
		return scanFailure(err, "")
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return scanFailure(err, "")
	}
	if err := os.Rename(tmp.Name(), f.output); err != nil {
		return scanFailure(fmt.Errorf("writing %s: %w", f.output, err), "")
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// inventory resolves the target and inventories it.
func (a *app) inventory(ctx context.Context, target string, f scanFlags) (*report.Report, error) {
	if f.rootfs != "" {
		opts, done := a.scanOptions(f.noCache)
		defer done()
		inv, err := scan.DirInventory(ctx, f.rootfs, opts)
		if err != nil {
			return nil, err
		}
		return &report.Report{Target: f.rootfs, Created: time.Now(), Tool: "berth", Version: berthVersion(), Inventory: inv}, nil
	}
	src, err := a.resolveImage(ctx, target, f.platform, f.offline)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return a.imageInventory(ctx, target, src.Image, f.noCache)
}

// imageInventory is the package inventory of img as a report: what `berth
// sbom` prints and what `build --sbom` attaches.
func (a *app) imageInventory(ctx context.Context, target string, img v1.Image, noCache bool) (*report.Report, error) {
	opts, done := a.scanOptions(noCache)
	defer done()
	rep := &report.Report{Target: target, Created: time.Now(), Tool: "berth", Version: berthVersion()}
	if d, err := img.Digest(); err == nil {
		rep.Digest = d.String()
	}
	layers, err := scan.LayersFromImage(img)
	if err != nil {
		return nil, err
	}
	if rep.Inventory, err = scan.ImageInventory(ctx, layers, opts); err != nil {
		return nil, err
	}
	return rep, nil
}

// scanOptions opens the per-layer inventory cache (unless noCache); done
// closes it.
func (a *app) scanOptions(noCache bool) (scan.Options, func()) {
	opts := scan.Options{Log: a.logger()}
	scalibrlog.SetLogger(scan.ScalibrLogger(a.logger()))
	if noCache {
		return opts, func() {}
	}
	c, err := scan.OpenCache(filepath.Join(a.scanRoot(), "layers.db"))
	if err != nil {
		a.logger().Warn("scanning without the layer cache", "err", err)
		return opts, func() {}
	}
	opts.Cache = c
	return opts, func() { c.Close() }
}

// resolveImage opens IMAGE through the model's opener: an archive file
// (docker save or OCI archive), an OCI layout directory, a source-prefixed
// argument (docker-archive:, oci-archive:, oci:, registry:), an image in
// the local store, or else a registry reference read without importing,
// through berth's own registry client.
func (a *app) resolveImage(ctx context.Context, target, platform string, offline bool) (*image.Opened, error) {
	plat, err := parsePlatformFlag(platform)
	if err != nil {
		return nil, err
	}
	var src *image.Opened
	if offline {
		// --offline: files, layouts and the store only; no registry.
		src, err = image.Open(ctx, target, image.OpenOptions{Platform: plat, Store: storeReader{a}})
		if errors.Is(err, image.ErrNotFound) || errors.Is(err, image.ErrUnknownSource) {
			err = withHint(err, "--offline reads no registry: pull the image first, or scan an archive or layout")
		}
	} else {
		src, err = a.openImage(ctx, target, image.OpenOptions{Platform: plat, RegistryFallback: true})
	}
	if errors.Is(err, image.ErrNotLayout) {
		return nil, withHint(err, "use --rootfs to scan a root filesystem")
	}
	return src, err
}

// parseRemoteRef parses a registry reference; localhost and 127.0.0.0/8
// registries are spoken to over plain HTTP, as Docker does.
func parseRemoteRef(s string) (name.Reference, error) {
	var opts []name.Option
	host := s
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		opts = append(opts, name.Insecure)
	} else if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(s, opts...)
}
