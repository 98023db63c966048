package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
)

type pushOptions struct {
	remoteFlags
	allTags  bool
	quiet    bool
	jobs     int
	platform string
}

func (a *app) newPushCmd() *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("max-concurrent-uploads") && o.jobs < 1 {
				return usageError{fmt.Errorf("invalid --max-concurrent-uploads %d: must be at least 1", o.jobs)}
			}
			return a.runPush(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.allTags, "all-tags", "a", false, "Push all tags of an image to the repository")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress verbose output")
	f.IntVar(&o.jobs, "max-concurrent-uploads", 0, "Maximum number of layers uploaded in parallel (default 5, or max-concurrent-uploads in berth's settings)")
	f.StringVar(&o.platform, "platform", "", "Push only this platform's manifest of a multi-platform image, as a single-platform image (os[/arch[/variant]])")
	f.StringSliceVar(&o.insecure, "insecure-registry", nil, "Allow plain HTTP and unverified TLS for this registry (HOST[:PORT] or CIDR)")
	f.Bool("disable-content-trust", true, "Skip image signing (accepted for Docker compatibility)")
	return cmd
}

func (a *app) runPush(ctx context.Context, arg string, o pushOptions) error {
	r, err := ref.Parse(arg)
	if err != nil {
		// Docker exits 1 for a bad name, as for any failed pull or push.
		return fmt.Errorf("%s: %w", untrusted.Text(arg), err)
	}
	if o.allTags && remote.ExplicitTag(arg) {
		return usageError{errors.New("tag can't be used with --all-tags/-a")}
	}
	if _, ok := r.(name.Digest); ok {
		return usageError{remote.ErrPushByDigest}
	}
	platform, err := parsePlatformFlag(o.platform)
	if err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	c, err := a.newRemoteClient(&o.remoteFlags)
	if err != nil {
		return err
	}
	ev := a.newEvents(o.quiet)
	res, err := c.PushImage(ctx, remote.PushImageOptions{Ref: arg, AllTags: o.allTags, Platform: platform, Jobs: o.jobs}, st, ev)
	ev.Wait()
	if o.quiet && res != nil {
		for _, p := range res.Images {
			fmt.Fprintln(a.stdout, ref.FamiliarString(p.Ref))
		}
	}
	if err != nil {
		return remoteErr(err)
	}
	return nil
}
