package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	berthremote "github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/scan/vulndb"
)

// dbFlags are the vulnerability database flags of scan and scout cves.
func (a *app) dbFlags(cmd *cobra.Command, f *scanFlags) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.dbPath, "db", "", "Vulnerability database file (default ROOT/scan/vuln.db)")
	fl.IntVar(&f.maxAgeDays, "db-max-age", envInt("BERTH_SCAN_DB_MAX_AGE", 7), "Update the database when its data is older than this many days ($BERTH_SCAN_DB_MAX_AGE)")
	fl.StringSliceVar(&f.repositories, "db-repository", nil, "Where to fetch vulnerability data, tried in order: base URLs of osv.dev-style exports or OCI references of `scan db push` ($BERTH_SCAN_DB_REPOSITORY, scan-db-repository in berth's settings; default "+vulndb.DefaultRepository+")")
	lf := cmd.Flags()
	lf.BoolVar(&f.skipUpdate, "skip-db-update", false, "Scan with the database as it is; never fetch")
	lf.BoolVar(&f.offline, "offline", false, "Touch no network: no database update, no registry lookup")
	lf.BoolVar(&f.skipUpdate, "skip-update", false, "Same as --skip-db-update (trivy's older name)")
	lf.BoolVar(&f.offline, "offline-scan", false, "Same as --offline (trivy's name)")
	lf.BoolVar(&f.noProgress, "no-progress", false, "Do not show the database download progress")
	_ = lf.MarkHidden("skip-update")
	_ = lf.MarkHidden("offline-scan")
	cmd.Flags().BoolVar(&f.noCache, "no-cache", false, "Do not read or write the per-layer inventory cache")
	cmd.Flags().StringVar(&f.platform, "platform", "", "Platform of a multi-platform image (default this machine's)")
}

const (
	dbHint      = "fetch one with `berth scan db update`, import one with `berth scan db import DIR|all.zip` or pull a mirror with `berth scan db pull REF`"
	dbFetchHint = "check the network, or name a reachable mirror with --db-repository (BERTH_SCAN_DB_REPOSITORY); offline, import data with `berth scan db import DIR|all.zip`"
)

// dbRepositories are the repositories to fetch from: the flag, else
// $BERTH_SCAN_DB_REPOSITORY (comma separated), else the settings file,
// else osv.dev.
func (a *app) dbRepositories(f scanFlags) ([]string, error) {
	if len(f.repositories) > 0 {
		return f.repositories, nil
	}
	if env := os.Getenv("BERTH_SCAN_DB_REPOSITORY"); env != "" {
		var out []string
		for _, r := range strings.Split(env, ",") {
			if r = strings.TrimSpace(r); r != "" {
				out = append(out, r)
			}
		}
		return out, nil
	}
	s, err := berthremote.LoadSettings(berthremote.SettingsPath())
	if err != nil {
		return nil, withHint(err, "fix or remove the settings file "+berthremote.SettingsPath())
	}
	if len(s.ScanDBRepositories) > 0 {
		return s.ScanDBRepositories, nil
	}
	return []string{vulndb.DefaultRepository}, nil
}

// updateDB fetches the exports of ecosystems (nil: all berth scans) that
// are older than maxAge (0: all of them), showing progress on stderr.
func (a *app) updateDB(ctx context.Context, f scanFlags, ecosystems []string, maxAge time.Duration) (vulndb.UpdateResult, error) {
	repos, err := a.dbRepositories(f)
	if err != nil {
		return vulndb.UpdateResult{}, err
	}
	var progress interface {
		vulndb.Progress
		Wait()
	} = quietProgress{}
	switch {
	case f.quiet || f.noProgress:
	case canDrawBars(a.stderr):
		progress = dbBars{newBarProgress(a.stderr)}
	default:
		progress = dbLines{newLineProgress(a.stderr)}
	}
	res, err := vulndb.Update(ctx, a.dbFile(f), vulndb.UpdateOptions{
		Repositories:  repos,
		Ecosystems:    ecosystems,
		Matchable:     scan.Ecosystems,
		MaxAge:        maxAge,
		ParseRef:      parseRemoteRef,
		RemoteOptions: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)},
		Progress:      progress,
		Log:           a.logger(),
	})
	progress.Wait()
	return res, err
}

// transientDBStatus are the phases a source passes through; on a terminal
// they label its bar, in a log they would be noise.
func transientDBStatus(s string) bool {
	switch s {
	case vulndb.StatusChecking, vulndb.StatusDownloading, vulndb.StatusImporting:
		return true
	}
	return false
}

// dbLines prints one line per source when it is done (and a line when the
// update has to wait for another one).
type dbLines struct{ *lineProgress }

func (p dbLines) Status(id, status string) {
	if !transientDBStatus(status) {
		p.lineProgress.Status(id, status)
	}
}

// dbBars draws one bar per source, completed by its final line.
type dbBars struct{ *barProgress }

func (p dbBars) Status(id, status string) {
	p.barProgress.Status(id, status)
	if !transientDBStatus(status) {
		p.layer(id).bar.SetTotal(-1, true)
	}
}

// ensureDB makes the database fit to scan an image with packages in
// ecosystems: with --offline or --skip-db-update as it is, otherwise
// fetching what is missing or older than --db-max-age. A failed update
// with a usable database left is a warning; with none, the scan's error.
func (a *app) ensureDB(ctx context.Context, f scanFlags, ecosystems []string, warnf func(string, ...any)) error {
	maxAge := time.Duration(f.maxAgeDays) * 24 * time.Hour
	var wanted []string // only what the inventory can match: never GIT on its own
	for _, e := range ecosystems {
		for _, m := range scan.Ecosystems {
			if e == m {
				wanted = append(wanted, e)
			}
		}
	}
	ecosystems = wanted
	if f.offline || f.skipUpdate || len(ecosystems) == 0 {
		return nil
	}
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	res, err := a.updateDB(ctx, f, ecosystems, maxAge)
	if errors.Is(err, context.Canceled) {
		return err
	}
	for _, e := range res.Missing {
		warnf("no vulnerability database repository publishes %s records; its packages are not checked", e)
	}
	if err == nil {
		return nil
	}
	db, oerr := vulndb.Open(ctx, a.dbFile(f))
	if oerr != nil {
		return scanFailure(err, dbFetchHint)
	}
	defer db.Close()
	st, _ := db.Status()
	var lacking []string
	for _, e := range ecosystems {
		if _, ok := st.Covers(e); !ok {
			lacking = append(lacking, e)
		}
	}
	if len(lacking) == len(ecosystems) {
		return scanFailure(err, dbFetchHint)
	}
	warnf("%v; scanning with the database as it is (data up to %s)", err, st.Oldest.UTC().Format("2006-01-02"))
	if len(lacking) > 0 {
		warnf("the database has no %s records; those packages are not checked", strings.Join(lacking, ", "))
	}
	return nil
}

// staleWarning warns, when the database was not updated, that its data is
// older than --db-max-age.
func staleWarning(st vulndb.Status, f scanFlags, now time.Time, warnf func(string, ...any)) {
	maxAge := time.Duration(f.maxAgeDays) * 24 * time.Hour
	if maxAge <= 0 || st.Oldest.IsZero() || now.Sub(st.Oldest) <= maxAge {
		return
	}
	how := "run `berth scan db update`"
	if f.offline {
		how = "update it with `berth scan db import` or `berth scan db pull`"
	}
	warnf("the vulnerability database is %d days old (data up to %s); %s", int(now.Sub(st.Oldest).Hours()/24), st.Oldest.UTC().Format("2006-01-02"), how)
}

// unscoredHint says how to get the scores of findings known only by their
// CVE (the Go standard library's advisories, distribution records NVD had
// not scored): osv.dev keeps CVE records in its GIT export, which a scan
// does not fetch by itself.
func unscoredHint(st vulndb.Status, findings []scan.Finding, warnf func(string, ...any)) {
	if _, ok := st.Source("GIT"); ok {
		return
	}
	n := 0
	for _, f := range findings {
		if f.Severity != "UNKNOWN" {
			continue
		}
		for _, a := range append([]string{f.ID}, f.Aliases...) {
			if strings.Contains(a, "CVE-") {
				n++
				break
			}
		}
	}
	if n > 0 {
		warnf("%d findings have no score in the database; `berth scan db update GIT` adds the scores of their CVE records", n)
	}
}

func (a *app) newScanDBCmd(sf *scanFlags) *cobra.Command {
	db := groupCmd("db", "Manage the vulnerability database")
	update := &cobra.Command{
		Use:   "update [ECOSYSTEM...]",
		Short: "Fetch OSV data for every ecosystem berth scans, or the ones named, from the repositories",
		Long: "Fetch the OSV exports (<repository>/<ECOSYSTEM>/all.zip) of every ecosystem berth scans, or of the\n" +
			"ones named, resuming interrupted downloads and asking the repository whether what the database\n" +
			"holds has changed. The database is replaced atomically; scans running meanwhile read the old one.\n" +
			"Name GIT to add the CVE records' own scores (kept as severities only).",
		Example: "  berth scan db update\n  berth scan db update Debian Go npm\n  berth scan db update --db-repository https://osv.mirror.example/osv",
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, e := range args {
				if strings.ContainsAny(e, "/\\") || strings.TrimSpace(e) == "" {
					return usageError{fmt.Errorf("%q is not an OSV ecosystem name (Debian, Go, npm, PyPI, …)", e)}
				}
			}
			var ecos []string
			if len(args) > 0 {
				ecos = args
			}
			start := time.Now()
			res, err := a.updateDB(cmd.Context(), *sf, ecos, 0)
			writeUpdateResult(a.stdout, res, time.Since(start))
			if err != nil {
				return scanFailure(err, dbFetchHint)
			}
			return nil
		},
	}
	imp := &cobra.Command{
		Use:   "import PATH",
		Short: "Import OSV records: a directory, an osv.dev <ECOSYSTEM>/all.zip, or a zip of those",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			src, err := vulndb.Import(cmd.Context(), a.dbFile(*sf), args[0], a.logger())
			if err != nil {
				return scanFailure(err, "")
			}
			fmt.Fprintf(a.stdout, "Imported %d records from %s in %s (%d skipped)\n", src.Records, args[0], time.Since(start).Round(time.Millisecond), src.Skipped)
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the database's sources, counts and age",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := vulndb.Open(cmd.Context(), a.dbFile(*sf))
			if err != nil {
				if errors.Is(err, vulndb.ErrNoDatabase) {
					return scanFailure(err, dbHint)
				}
				return scanFailure(err, "")
			}
			defer d.Close()
			st, err := d.Status()
			if err != nil {
				return scanFailure(err, "")
			}
			writeDBStatus(a.stdout, st, time.Now())
			return nil
		},
	}
	push := &cobra.Command{
		Use:   "push REF",
		Short: "Push the database to a registry as an OCI artifact",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRemoteRef(args[0])
			if err != nil {
				return usageError{fmt.Errorf("invalid reference format: %w", err)}
			}
			dg, err := vulndb.Push(cmd.Context(), a.dbFile(*sf), ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
			if err != nil {
				if errors.Is(err, vulndb.ErrNoDatabase) {
					return scanFailure(err, dbHint)
				}
				return scanFailure(err, "")
			}
			fmt.Fprintf(a.stdout, "%s: digest: %s\n", ref.Name(), dg)
			return nil
		},
	}
	pull := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull a database pushed with `berth scan db push`",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRemoteRef(args[0])
			if err != nil {
				return usageError{fmt.Errorf("invalid reference format: %w", err)}
			}
			st, err := vulndb.Pull(cmd.Context(), a.dbFile(*sf), ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
			if err != nil {
				return scanFailure(err, "")
			}
			fmt.Fprintf(a.stdout, "Pulled %s: %d records\n", ref.Name(), st.Records)
			return nil
		},
	}
	db.AddCommand(update, imp, status, push, pull)
	return db
}

func writeUpdateResult(w io.Writer, res vulndb.UpdateResult, took time.Duration) {
	records := 0
	for _, s := range res.Updated {
		records += s.Records
	}
	switch {
	case len(res.Updated) > 0:
		fmt.Fprintf(w, "Updated %d sources (%d records) in %s", len(res.Updated), records, took.Round(10*time.Millisecond))
	default:
		fmt.Fprintf(w, "No source changed (%s)", took.Round(10*time.Millisecond))
	}
	if len(res.Unchanged) > 0 {
		sort.Strings(res.Unchanged)
		fmt.Fprintf(w, "; up to date: %s", strings.Join(res.Unchanged, ", "))
	}
	fmt.Fprintln(w)
	if len(res.Missing) > 0 {
		fmt.Fprintf(w, "Not published by any repository: %s\n", strings.Join(res.Missing, ", "))
	}
}

func writeDBStatus(w io.Writer, st vulndb.Status, now time.Time) {
	fmt.Fprintf(w, "Database:  %s (%d bytes)\n", st.Path, st.Size)
	fmt.Fprintf(w, "Records:   %d\n", st.Records)
	if !st.Newest.IsZero() {
		fmt.Fprintf(w, "Newest:    %s (%d days old)\n", st.Newest.UTC().Format(time.RFC3339), int(st.Age(now).Hours()/24))
	}
	fmt.Fprintln(w, "Sources:")
	for _, s := range st.Sources {
		var ecos []string
		for e, n := range s.Ecosystems {
			ecos = append(ecos, fmt.Sprintf("%s=%d", e, n))
		}
		sort.Strings(ecos)
		name := s.Name
		if s.Kind == vulndb.KindExport {
			name = s.Name + " export, " + s.URL
		}
		fmt.Fprintf(w, "  %s\n    imported %s, %d records, %d skipped, ecosystems: %s\n", name, s.Imported.UTC().Format(time.RFC3339), s.Records, s.Skipped, strings.Join(ecos, " "))
		if s.Kind == vulndb.KindExport {
			fmt.Fprintf(w, "    checked %s", s.Fresh().UTC().Format(time.RFC3339))
			if s.Severities > 0 {
				fmt.Fprintf(w, ", %d severities kept for aliases", s.Severities)
			}
			fmt.Fprintln(w)
		}
	}
}
