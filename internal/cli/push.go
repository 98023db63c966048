package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	gremote "github.com/google/go-containerregistry/pkg/v1/remote"
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
		return usageError{fmt.Errorf("%s: %w", arg, err)}
	}
	if o.allTags && remote.ExplicitTag(arg) {
		return usageError{errors.New("tag can't be used with --all-tags/-a")}
	}
	if _, ok := r.(name.Digest); ok {
		return usageError{errors.New("push by digest is not supported: push a tag")}
	}
	platform, err := parsePlatformFlag(o.platform)
	if err != nil {
		return err
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	images, err := st.Images(ctx)
	if err != nil {
		return err
	}
	var tags []name.Tag
	if o.allTags {
		repo := ref.Repository(r)
		for _, img := range images {
			for _, n := range img.Names {
				t, err := ref.ParseTag(n)
				if err == nil && ref.Repository(t) == repo {
					tags = append(tags, t)
				}
			}
		}
		sort.Slice(tags, func(i, j int) bool { return tags[i].TagStr() < tags[j].TagStr() })
		if len(tags) == 0 {
			return dockerError("An image does not exist locally with the tag: " + ref.FamiliarRepository(r))
		}
	} else {
		tags = []name.Tag{r.(name.Tag)}
	}
	c, err := a.newRemoteClient(&o.remoteFlags)
	if err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(a.stdout, "The push refers to repository [%s]\n", ref.Repository(r))
	}
	mounts := mountSources(ctx, st, images, r.Context())
	for _, t := range tags {
		img, err := st.Lookup(ctx, ref.FullName(t))
		if errors.Is(err, store.ErrNotFound) {
			return dockerError("An image does not exist locally with the tag: " + ref.FamiliarRepository(t))
		}
		if err != nil {
			return err
		}
		var content gremote.Taggable
		if platform != nil {
			content, err = platformImage(ctx, st, img, ref.Familiar(t), *platform)
			if err != nil {
				return err
			}
		} else if img.IsIndex() {
			content, err = st.Index(ctx, img)
		} else {
			content, err = st.Image(ctx, img, nil)
		}
		if err != nil {
			return fmt.Errorf("reading %s from the local store: %w", ref.Familiar(t), err)
		}
		prog := a.newProgress(o.quiet)
		res, err := c.Push(ctx, t, content, remote.PushOptions{Jobs: o.jobs, Progress: prog, MountFrom: mounts})
		prog.Wait()
		if err != nil {
			return remoteErr(err)
		}
		if o.quiet {
			fmt.Fprintln(a.stdout, ref.Familiar(t))
			continue
		}
		fmt.Fprintf(a.stdout, "%s: digest: %s size: %d\n", t.TagStr(), res.Digest, res.Size)
	}
	return nil
}

// mountSources maps each blob of the local images named in other
// repositories of target's registry to those repositories: the registry
// already has the blob there and can link it instead of receiving it again.
func mountSources(ctx context.Context, st *store.Store, images []store.Image, target name.Repository) func(v1.Hash) []name.Repository {
	src := map[v1.Hash][]name.Repository{}
	for _, img := range images {
		var repos []name.Repository
		for _, n := range img.Names {
			r, err := ref.Parse(n)
			if err != nil || r.Context().RegistryStr() != target.RegistryStr() || r.Context().RepositoryStr() == target.RepositoryStr() {
				continue
			}
			repos = append(repos, r.Context())
		}
		if len(repos) == 0 || img.IsIndex() {
			continue
		}
		m, err := st.Manifest(img.Digest)
		if err != nil {
			continue
		}
		for _, l := range m.Layers {
			src[l.Digest] = append(src[l.Digest], repos...)
		}
	}
	return func(h v1.Hash) []name.Repository { return src[h] }
}
