package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/scan/vulndb"
	"github.com/berth-dev/berth/internal/store"
	"github.com/spf13/cobra"
)

func (a *app) newSystemDfCmd() *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use:     "df [OPTIONS]",
		Short:   "Show berth disk usage",
		Args:    noArgs,
		Example: "  berth system df\n  berth system df -v",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			u, err := diskUsage(ctx, s)
			if err != nil {
				return err
			}
			if verbose && format == "json" {
				return a.printDfVerboseJSON(u)
			}
			if verbose {
				return a.printDfVerbose(u)
			}
			rows := []any{
				dfRow{Type: "Images", TotalCount: fmt.Sprint(len(u.Images)), Active: "0", Size: output.HumanSize4(u.LayersSize), Reclaimable: reclaimable(u.LayersSize, u.LayersSize)},
				dfRow{Type: "Containers", TotalCount: "0", Active: "0", Size: "0B", Reclaimable: "0B"},
				dfRow{Type: "Local Volumes", TotalCount: "0", Active: "0", Size: "0B", Reclaimable: "0B"},
				dfRow{Type: "Build Cache", TotalCount: fmt.Sprint(u.cacheCount), Active: "0", Size: output.HumanSize4(u.cacheSize), Reclaimable: output.HumanSize4(u.cacheSize)},
				// berth's own row: what `berth scan` fetched. Only the
				// downloads of interrupted updates go with a plain prune;
				// the database goes with `system prune --scan-db`.
				dfRow{Type: "Scan Database", TotalCount: fmt.Sprint(u.vulnDB.Sources), Active: "0", Size: output.HumanSize4(u.vulnDB.Size), Reclaimable: output.HumanSize4(u.vulnDB.Downloads)},
			}
			def := "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
			return output.Table{Format: format, Default: def, Headers: map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}}.Write(a.stdout, rows)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template")
	return cmd
}

type dfRow struct {
	Type, TotalCount, Active, Size, Reclaimable string
}

// MarshalJSON sorts the keys, as docker system df --format json does.
func (r dfRow) MarshalJSON() ([]byte, error) {
	type plain dfRow
	return output.SortedJSON(plain(r))
}

func reclaimable(n, total int64) string {
	if total == 0 {
		return "0B"
	}
	return fmt.Sprintf("%s (%d%%)", output.HumanSize4(n), n*100/total)
}

type usage struct {
	*store.Usage
	cache      []build.CacheRecord
	cacheSize  int64
	cacheCount int
	vulnDB     vulndb.Usage
}

// diskUsage gathers Docker's df figures: the store's for images, the build
// cache's for the rest.
func diskUsage(ctx context.Context, s *store.Store) (*usage, error) {
	su, err := s.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	u := &usage{Usage: su}
	if u.cache, err = buildCacheRecords(ctx, s); err != nil {
		return nil, err
	}
	u.cacheCount = len(u.cache)
	for _, r := range u.cache {
		u.cacheSize += r.Size
	}
	u.vulnDB = vulndb.DiskUsage(ctx, vulnDBPath(s))
	return u, nil
}

func (a *app) printDfVerbose(u *usage) error {
	now := time.Now()
	a.printf("Images space usage:\n\n")
	tw := tabwriter.NewWriter(a.stdout, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS")
	// One row per image, named by its first tag, as docker system df -v.
	for _, iu := range u.Images {
		r := dfImageRow(iu, false, now)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.Repository, r.Tag, r.ID, r.CreatedSince,
			output.HumanSize(iu.Size), output.HumanSize4(iu.SharedSize), output.HumanSize4(iu.Size-iu.SharedSize), iu.Containers)
	}
	tw.Flush()
	a.printf("\nContainers space usage:\n\nCONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE      CREATED   STATUS    NAMES\n")
	a.printf("\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n")
	a.printf("\nBuild cache usage: %s\n\n", output.HumanSize4(u.cacheSize))
	tw = tabwriter.NewWriter(a.stdout, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED")
	// docker system df -v's columns; the ID cut to 12 characters as it cuts them.
	for _, r := range u.cache {
		lastUsed := ""
		if !r.LastUsed.IsZero() {
			lastUsed = output.Since(r.LastUsed, now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%t\n", shortID(r.ID, false), r.Type, output.HumanSize(r.Size),
			output.Since(r.Created, now), lastUsed, r.UsageCount, false)
	}
	tw.Flush()
	a.printf("\nVulnerability database usage: %s (%d sources, %s of interrupted downloads)\n", output.HumanSize4(u.vulnDB.Size), u.vulnDB.Sources, output.HumanSize4(u.vulnDB.Downloads))
	return nil
}

func (a *app) newSystemPruneCmd() *cobra.Command {
	var all, force, volumes, scanDB bool
	var filters []string
	cmd := &cobra.Command{
		Use:     "prune [OPTIONS]",
		Short:   "Remove unused data",
		Args:    noArgs,
		Example: "  berth system prune -f\n  berth system prune -a",
		RunE: func(cmd *cobra.Command, _ []string) error {
			what := "  - all dangling images"
			if all {
				what = "  - all images without at least one container associated to them"
			}
			cache := "  - unused build cache (unpacked layers no image uses)"
			if all {
				cache = "  - all build cache"
			}
			warning := "WARNING! This will remove:\n" + what + "\n" + cache + "\n  - unused blobs and leftovers of interrupted commands\n"
			if scanDB {
				warning += "  - the vulnerability database `berth scan` fetched\n"
			}
			return a.runPrune(cmd.Context(), filters, all, force, true, warning, scanDB)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	fl.BoolVar(&volumes, "volumes", false, "Prune anonymous volumes (berth has none; accepted for compatibility)")
	fl.StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"label=<key>=<value>\")")
	fl.BoolVar(&scanDB, "scan-db", false, "Also remove the vulnerability database `berth scan` fetched (the next scan fetches it again)")
	return cmd
}

// vulnDBPath is the database berth scan uses by default.
func vulnDBPath(s *store.Store) string { return filepath.Join(s.Root(), "scan", "vuln.db") }

func (a *app) newSystemCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "check",
		Short:   "Verify every blob against its digest and every image against the blobs it needs",
		Args:    noArgs,
		Example: "  berth system check",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			n, problems, err := s.Check(ctx)
			if err != nil {
				return err
			}
			for _, p := range problems {
				a.printf("%s\n", p)
			}
			imgs, _ := s.Images(ctx)
			if len(problems) > 0 {
				return exitError{code: exitFailure, msg: fmt.Sprintf("%d problem(s) in the store at %s", len(problems), s.Root())}
			}
			a.printf("OK: %d blobs verified, %d images complete\n", n, len(imgs))
			return nil
		},
	}
}

// splitRepoTag cuts a familiar NAME:TAG at the tag's colon.
func splitRepoTag(s string) (repo, tag string, ok bool) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}
