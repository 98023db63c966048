package cli

import (
	"fmt"

	"github.com/berth-dev/berth/internal/store"
	"github.com/spf13/cobra"
)

func (a *app) newRmiCmd(use string) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:     use + " [OPTIONS] IMAGE [IMAGE...]",
		Short:   "Remove one or more images",
		Args:    minArgs(1),
		Example: "  berth rmi busybox:latest\n  berth rmi -f 4a1b2c3d4e5f",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			results, err := s.RemoveImages(ctx, args, store.RemoveOptions{Force: force, NoPrune: noPrune})
			if err != nil {
				// Blobs of deleted images stay for the next collection
				// (another process was committing).
				a.logger().Debug("gc after rmi", "err", err)
			}
			failed := false
			for _, r := range results {
				if r.Err != nil {
					fmt.Fprintf(a.stderr, "berth: error: %v\n", r.Err)
					failed = true
					continue
				}
				printEvents(a, r.Events, "Untagged", "Deleted")
			}
			if failed {
				return exitError{code: exitFailure}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func printEvents(a *app, events []store.Event, untagged, deleted string) {
	for _, e := range events {
		if e.Untagged != "" {
			a.printf("%s: %s\n", untagged, e.Untagged)
		} else {
			a.printf("%s: %s\n", deleted, e.Deleted)
		}
	}
}
