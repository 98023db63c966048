package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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
	r, err := ref.Parse(arg)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", arg, err)}
	}
	platform, err := parsePlatformFlag(o.platform)
	if err != nil {
		return err
	}
	if o.allTags && hasExplicitTag(arg) {
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

	refs := []name.Reference{r}
	if o.allTags {
		tags, err := c.Tags(ctx, r.Context())
		if err != nil {
			return remoteErr(err)
		}
		refs = refs[:0]
		for _, t := range tags {
			refs = append(refs, r.Context().Tag(t))
		}
		if !o.quiet {
			fmt.Fprintf(a.stdout, "Pulling all tags of %s\n", ref.FamiliarRepository(r))
		}
	} else if !o.quiet && !hasExplicitTag(arg) && !strings.Contains(arg, "@") {
		fmt.Fprintln(a.stdout, "Using default tag: latest")
	}
	newer := false
	var last string
	for _, one := range refs {
		n, err := a.pullOne(ctx, c, st, one, platform, o)
		if err != nil {
			return err
		}
		newer = newer || n
		last = ref.Familiar(one)
	}
	status := "Image is up to date for "
	if newer {
		status = "Downloaded newer image for "
	}
	shown := last
	full := ref.FullName(r)
	if o.allTags {
		shown, full = ref.FamiliarRepository(r), ref.Repository(r)
	}
	if !o.quiet {
		fmt.Fprintf(a.stdout, "Status: %s%s\n", status, shown)
	}
	fmt.Fprintln(a.stdout, full)
	return nil
}

// pullOne pulls one reference into the store and records its names. It
// reports whether the name now points at different content than before.
func (a *app) pullOne(ctx context.Context, c *remote.Client, st *store.Store, r name.Reference, platform *v1.Platform, o pullOptions) (bool, error) {
	if !o.quiet {
		fmt.Fprintf(a.stdout, "%s: Pulling from %s\n", r.Identifier(), familiarPath(r))
	}
	var before v1.Hash
	if img, err := st.Lookup(ctx, ref.FullName(r)); err == nil {
		before = img.Digest
	}
	prog := a.newProgress(o.quiet)
	res, err := c.Pull(ctx, r, storeSink{st}, remote.PullOptions{
		Platform:   platform,
		Jobs:       o.jobs,
		PartialDir: partialDir(st),
		Progress:   prog,
	})
	prog.Wait()
	if err != nil {
		return false, remoteErr(err)
	}
	names := []string{ref.FullName(r), ref.Repository(r) + "@" + res.Desc.Digest.String()}
	if _, err := st.AddImage(ctx, res.Desc, names...); err != nil {
		return false, fmt.Errorf("recording %s: %w", ref.Familiar(r), err)
	}
	if !o.quiet {
		fmt.Fprintf(a.stdout, "Digest: %s\n", res.Desc.Digest)
	}
	a.logger().Debug("pulled", "ref", ref.FullName(r), "digest", res.Desc.Digest, "registry", res.Registry, "blobs", res.Fetched)
	return before != res.Desc.Digest, nil
}

// familiarPath is the repository path Docker prints in "Pulling from":
// library/busybox for Hub, the path alone for other registries.
func familiarPath(r name.Reference) string {
	return r.Context().RepositoryStr()
}

// hasExplicitTag reports whether the user typed a tag (a colon after the
// last slash, not part of a digest).
func hasExplicitTag(s string) bool {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return strings.Contains(s, ":")
}
