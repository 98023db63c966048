package cli

import (
	"fmt"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/untrusted"
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
			// Bad names are reported before the store is opened, in the
			// words of Docker's client (ImageTag).
			for _, n := range args {
				if _, err := ref.Parse(n); err != nil {
					return tagRefError(n, err)
				}
			}
			if _, err := ref.ParseTag(args[1]); err != nil {
				return tagRefError(args[1], err)
			}
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			return s.TagImage(ctx, args[0], args[1])
		},
	}
}

// tagRefError is Docker's client wording for a name tag cannot use.
func tagRefError(name string, err error) error {
	return fmt.Errorf("%w: %w", dockerError(fmt.Sprintf("Error parsing reference: %s is not a valid repository/tag", untrusted.Quote(name))), err)
}
