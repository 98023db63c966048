package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"strings"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/spf13/cobra"
)

type pullOptions struct {
	remoteFlags
	allTags  bool
	platform string
	quiet    bool
	jobs     int
}

func (a *app) newPullCmd() *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("max-concurrent-downloads") && o.jobs < 1 {
				return usageError{fmt.Errorf("invalid --max-concurrent-downloads %d: must be at least 1", o.jobs)}
			}
			return a.runPull(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.allTags, "all-tags", "a", false, "Download all tagged images in the repository")
	f.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable (os/arch[/variant])")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress verbose output")
	f.IntVar(&o.jobs, "max-concurrent-downloads", 0, "Maximum number of layers downloaded in parallel (default 3, or max-concurrent-downloads in berth's settings)")
	f.StringSliceVar(&o.insecure, "insecure-registry", nil, "Allow plain HTTP and unverified TLS for this registry (HOST[:PORT] or CIDR)")
	f.Bool("disable-content-trust", true, "Skip image verification (accepted for Docker compatibility)")
	return cmd
}

func (a *app) runPull(ctx context.Context, arg string, o pullOptions) error {
	if _, err := ref.Parse(arg); err != nil {
		// Docker exits 1 for a bad name, as for any failed pull or push.
		return fmt.Errorf("%s: %w", untrusted.Text(arg), err)
	}
	platform, err := parsePlatformFlag(o.platform)
	if err != nil {
		return err
	}
	if o.allTags && remote.ExplicitTag(arg) {
		return usageError{errors.New("tag can't be used with --all-tags/-a")}
	}
	c, err := a.newRemoteClient(&o.remoteFlags)
	if err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	if !o.quiet && !o.allTags && !remote.ExplicitTag(arg) && !strings.Contains(arg, "@") {
		fmt.Fprintln(a.stdout, "Using default tag: latest")
	}
	ev := a.newEvents(o.quiet)
	res, err := c.PullImage(ctx, remote.PullImageOptions{
		Ref: arg, AllTags: o.allTags, Platform: platform, Jobs: o.jobs, PartialDir: partialDir(st),
	}, storeSink{st}, ev)
	ev.Wait()
	if err != nil {
		return remoteErr(err)
	}
	fmt.Fprintln(a.stdout, res.Name)
	return nil
}
