package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/scan/vulndb"
	"github.com/berth-dev/berth/internal/store"
	"github.com/spf13/cobra"
)

func (a *app) newImagePruneCmd() *cobra.Command {
	var (
		all, force bool
		filters    []string
	)
	cmd := &cobra.Command{
		Use:     "prune [OPTIONS]",
		Short:   "Remove unused images",
		Args:    noArgs,
		Example: "  berth image prune -f\n  berth image prune -a --filter until=24h",
		RunE: func(cmd *cobra.Command, _ []string) error {
			warning := "WARNING! This will remove all dangling images."
			if all {
				warning = "WARNING! This will remove all images without at least one container associated to them."
			}
			return a.runPrune(cmd.Context(), filters, all, force, false, warning, false)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	fl.StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}

// runPrune is image prune and system prune: confirm, remove the images,
// collect their blobs, report as Docker does.
func (a *app) runPrune(ctx context.Context, filters []string, all, force, buildCache bool, warning string, scanDB bool) error {
	fs, err := parseFilterFlags(filters, store.PruneFilterKeys)
	if err != nil {
		return err
	}
	if !force && !a.confirm(warning) {
		return nil
	}
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	rep, err := s.Prune(ctx, store.PruneOptions{All: all, Filters: fs})
	if err != nil {
		return err
	}
	if len(rep.Events) > 0 {
		a.printf("Deleted Images:\n")
		printEvents(a, rep.Events, "untagged", "deleted")
		a.printf("\n")
	}
	if buildCache {
		freed, busy, err := pruneBuildCache(ctx, s, all)
		if err != nil {
			return err
		}
		if busy {
			fmt.Fprintln(a.stderr, "berth: a build is running; its cache was left as it is")
		}
		rep.Reclaimed += freed
		// Downloads of interrupted database updates are leftovers; the
		// database itself goes only when asked for by name.
		rep.Reclaimed += vulndb.PruneDownloads(vulnDBPath(s))
	}
	if scanDB {
		freed, err := vulndb.Remove(ctx, vulnDBPath(s))
		if err != nil {
			return err
		}
		rep.Reclaimed += freed
	}
	a.printf("Total reclaimed space: %s\n", output.HumanSize(rep.Reclaimed))
	return nil
}

// confirm prints Docker's prompt and reads y/N from stdin.
func (a *app) confirm(warning string) bool {
	fmt.Fprintf(a.stdout, "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes"
}
