package cli

import (
	"github.com/berth-dev/berth/internal/ref"
	"github.com/spf13/cobra"
)

func (a *app) newTagCmd(use string) *cobra.Command {
	return &cobra.Command{
		Use:     use + " SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short:   "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:    exactArgs(2),
		Example: "  berth tag busybox:latest localhost:5000/busybox:1.36",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			// A bad target is reported before the store is opened.
			if _, err := ref.ParseTag(args[1]); err != nil {
				return err
			}
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			return s.TagImage(ctx, args[0], args[1])
		},
	}
}
