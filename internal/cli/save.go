package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/store"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

type saveOptions struct {
	output   string
	platform string
	format   string
}

// newSaveCmd is `berth save` and `berth image save`.
func (a *app) newSaveCmd() *cobra.Command {
	var o saveOptions
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Long: "Save one or more images to a tar archive (streamed to STDOUT by default).\n\n" +
			"The default format is Docker's (an OCI image layout plus manifest.json), which every\n" +
			"docker load, podman load and skopeo docker-archive: reads; --format oci writes a pure\n" +
			"OCI image layout (skopeo oci-archive:, umoci).",
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runSave(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "Write to a file, instead of STDOUT")
	f.StringVar(&o.platform, "platform", "", `Save only the given platform of a multi-platform image (e.g. "linux/arm64")`)
	f.StringVar(&o.format, "format", string(archive.FormatDocker), `Archive format: "docker" or "oci"`)
	return cmd
}

func (a *app) runSave(ctx context.Context, o saveOptions, args []string) error {
	format := archive.Format(o.format)
	if format != archive.FormatDocker && format != archive.FormatOCI {
		return usageError{fmt.Errorf("invalid --format %q: use \"docker\" or \"oci\"", o.format)}
	}
	platform, err := parsePlatformFlag(o.platform)
	if err != nil {
		return err
	}
	if o.output == "" && isTerminal(a.stdout) {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	o2 := saveArchiveOptions{Format: format, Platform: platform}
	// archive.Write buffers itself, and copies blobs in the kernel when it
	// is given a regular file (-o, or stdout redirected to one).
	if o.output == "" {
		return saveImages(ctx, st, a.stdout, args, o2)
	}
	// Like docker, write next to the target and rename: a failed save never
	// leaves a truncated archive under the requested name. The images are
	// resolved first, so a missing one fails before the file is made.
	if _, err := saveEntries(ctx, st, args, platform); err != nil {
		return err
	}
	out, err := fsutil.CreateAtomic(o.output)
	if err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	if err := saveImages(ctx, st, out.File, args, o2); err != nil {
		out.Abort()
		return err
	}
	if err := out.Commit(); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	return nil
}

// saveArchiveOptions are the options of saveImages.
type saveArchiveOptions struct {
	Format   archive.Format
	Platform *v1.Platform // only this platform of each image
}

// saveImages is `save` and GET /images/get: the images args name, with
// the names Docker gives them, as one archive written to w. A missing image
// fails before anything is written.
func saveImages(ctx context.Context, st *store.Store, w io.Writer, args []string, o saveArchiveOptions) error {
	entries, err := saveEntries(ctx, st, args, o.Platform)
	if err != nil {
		return err
	}
	opts := archive.WriteOptions{
		Format:   o.Format,
		Platform: o.Platform,
		Missing:  func(err error) bool { return errors.Is(err, store.ErrNotFound) },
		// A concurrent rmi + prune must not collect what is being saved.
		Hold: func(h v1.Hash) error { _, err := st.Protect(h); return err },
	}
	if err := archive.Write(ctx, w, entries, opts); err != nil {
		return fmt.Errorf("saving: %w", err)
	}
	return nil
}

// saveEntries resolves the arguments of save to images and the names they
// are saved under, as Docker does: "name:tag" and "name@digest" save that
// name, a bare repository saves every tag it has, an ID saves no name.
func saveEntries(ctx context.Context, st *store.Store, args []string, platform *v1.Platform) ([]archive.Entry, error) {
	var entries []archive.Entry
	add := func(img store.Image, n string) error {
		e, err := saveEntry(ctx, st, img, n, platform)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	}
	for _, arg := range args {
		if isRepositoryOnly(arg) {
			tagged, err := repositoryTags(ctx, st, arg)
			if err != nil {
				return nil, err
			}
			if len(tagged) > 0 {
				for _, t := range tagged {
					if err := add(t.img, t.name); err != nil {
						return nil, err
					}
				}
				continue
			}
		}
		img, err := st.Lookup(ctx, arg)
		if err != nil {
			return nil, err
		}
		n := ""
		if r, err := ref.Parse(arg); err == nil && !idLike(arg) {
			full := ref.FullName(r)
			if _, isDigest := r.(name.Digest); isDigest || hasName(img.Names, full) {
				n = full
			}
		}
		if err := add(img, n); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// saveEntry opens one image for writing under name n ("" for none).
func saveEntry(ctx context.Context, st *store.Store, img store.Image, n string, platform *v1.Platform) (archive.Entry, error) {
	var names []string
	if n != "" {
		names = []string{n}
	}
	if platform == nil && img.IsIndex() {
		idx, err := st.Index(ctx, img)
		if err != nil {
			return archive.Entry{}, fmt.Errorf("opening %s: %w", img.Digest, err)
		}
		return archive.Entry{Index: idx, Names: names}, nil
	}
	var im v1.Image
	var err error
	if platform != nil {
		im, err = st.PlatformImage(ctx, img, displayName(img, n), *platform)
	} else if im, err = st.Image(ctx, img, nil); err != nil {
		err = fmt.Errorf("opening %s: %w", img.Digest, err)
	}
	if err != nil {
		return archive.Entry{}, err
	}
	// A digest name that pointed at the index does not name the platform's
	// manifest.
	if d, err := im.Digest(); err == nil && d != img.Digest {
		names = nil
		if _, tagged := tagPart(n); tagged {
			names = []string{n}
		}
	}
	return archive.Entry{Image: im, Names: names}, nil
}

func displayName(img store.Image, n string) string {
	if n != "" {
		return ref.FamiliarString(n)
	}
	return img.ID.String()
}

func tagPart(full string) (string, bool) {
	if full == "" || strings.Contains(full, "@") {
		return "", false
	}
	i := strings.LastIndex(full, ":")
	if i < 0 || strings.Contains(full[i+1:], "/") {
		return "", false
	}
	return full[i+1:], true
}

type taggedImage struct {
	img  store.Image
	name string
}

// repositoryTags lists the tags of a repository with their images, in the
// store's order.
func repositoryTags(ctx context.Context, st *store.Store, repo string) ([]taggedImage, error) {
	r, err := ref.Parse(repo)
	if err != nil {
		return nil, err
	}
	prefix := ref.Repository(r) + ":"
	imgs, err := st.Images(ctx)
	if err != nil {
		return nil, err
	}
	var out []taggedImage
	for _, img := range imgs {
		for _, n := range img.Names {
			if rest, ok := strings.CutPrefix(n, prefix); ok && !strings.Contains(rest, "/") {
				out = append(out, taggedImage{img, n})
			}
		}
	}
	return out, nil
}

var hexID = regexp.MustCompile(`^(sha256:)?[0-9a-f]{1,64}$`)

func idLike(s string) bool { return hexID.MatchString(s) }

// isRepositoryOnly reports whether s names a repository without tag or
// digest ("busybox", "localhost:5000/app"), which docker save expands to all
// of its tags.
func isRepositoryOnly(s string) bool {
	if strings.Contains(s, "@") || idLike(s) {
		return false
	}
	last := s[strings.LastIndex(s, "/")+1:]
	return !strings.Contains(last, ":")
}

func hasName(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
