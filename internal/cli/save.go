package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/store"
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

// saveImages is `save` and GET /images/get, wired: the store resolves the
// names (SaveItems, Docker's rules), archive writes them as one archive to
// w. A missing image fails before anything is written.
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

func saveEntries(ctx context.Context, st *store.Store, args []string, platform *v1.Platform) ([]archive.Entry, error) {
	items, err := st.SaveItems(ctx, args, platform)
	if err != nil {
		return nil, err
	}
	entries := make([]archive.Entry, len(items))
	for i, it := range items {
		entries[i] = archive.Entry(it)
	}
	return entries, nil
}
