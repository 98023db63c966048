package cli

import (
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/internal/output"
	"github.com/spf13/cobra"
)

// newBuilderDuCmd is `builder du` (docker builder is buildx's alias when
// buildx is installed, and `docker buildx du` is how CI scripts read the
// cache's size): buildx's table of the build cache records, then its
// Shared/Private/Reclaimable/Total lines. berth's records are never shared
// between builders and never in use once a build ends, so all of them are
// private and reclaimable.
func (a *app) newBuilderDuCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:     "du [OPTIONS]",
		Short:   "Disk usage of the build cache",
		Args:    noArgs,
		Example: "  berth builder du\n  berth buildx du --verbose",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			recs, err := buildCacheRecords(ctx, st)
			if err != nil {
				return err
			}
			// buildx lists the largest first.
			sort.SliceStable(recs, func(i, j int) bool { return recs[i].Size > recs[j].Size })
			now := time.Now()
			var total int64
			tw := tabwriter.NewWriter(a.stdout, 1, 8, 1, '\t', 0)
			if !verbose {
				fmt.Fprintln(tw, "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED")
			}
			for _, r := range recs {
				total += r.Size
				last := ""
				if !r.LastUsed.IsZero() {
					last = output.Since(r.LastUsed, now)
				}
				if verbose {
					fmt.Fprintf(tw, "ID:\t%s\nCreated at:\t%s\nMutable:\tfalse\nReclaimable:\ttrue\nShared:\tfalse\nSize:\t%s\nDescription:\t%s\nUsage count:\t%d\nLast used:\t%s\nType:\t%s\n\n",
						r.ID, r.Created.UTC().Format("2006-01-02 15:04:05.999999999 -0700 MST"), output.HumanSize4(r.Size), r.Description, r.UsageCount, last, r.Type)
					continue
				}
				fmt.Fprintf(tw, "%s\ttrue\t%s\t%s\n", shortID(r.ID, true), output.HumanSize4(r.Size), last)
			}
			tw.Flush()
			if len(recs) > 0 && !verbose {
				fmt.Fprintln(a.stdout)
			}
			tw = tabwriter.NewWriter(a.stdout, 1, 8, 1, '\t', 0)
			fmt.Fprintf(tw, "Shared:\t0B\nPrivate:\t%s\nReclaimable:\t%s\nTotal:\t%s\n", output.HumanSize4(total), output.HumanSize4(total), output.HumanSize4(total))
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&verbose, "verbose", false, "Provide a more verbose output")
	cmd.Flags().String("builder", "", "Override the configured builder instance: accepted and ignored, berth is its own single builder")
	return cmd
}
