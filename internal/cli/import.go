package cli

import (
	"context"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net/http"
	"os"

	"github.com/berth-dev/berth/internal/build/remotecontext"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/store"
	"github.com/spf13/cobra"
)

func (a *app) newImportCmd() *cobra.Command {
	var (
		changes  []string
		message  string
		platform string
	)
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Long: "Import a root filesystem from a tar archive (plain, gzip, zstd or bzip2, detected from its bytes)\n" +
			"as a single-layer image. This is how a base image is made without a registry.",
		Example: "  mkdir -p rootfs/bin && cp /bin/busybox rootfs/bin/ && tar -C rootfs -c . | berth import - busybox:latest\n" +
			"  berth import --change 'CMD [\"sh\"]' --change 'ENV PATH=/bin' rootfs.tar.gz mybase:1\n" +
			"  berth import https://example.com/rootfs.tar.gz mybase:2",
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var names []string
			if len(args) == 2 {
				r, err := ref.Parse(args[1])
				if err != nil {
					return err
				}
				names = append(names, ref.FullName(r))
			}
			plat, err := parsePlatformFlag(platform)
			if err != nil {
				return err
			}
			in, src, err := openImportSource(ctx, args[0], a.stdin)
			if err != nil {
				return err
			}
			defer in.Close()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			img, err := s.Import(ctx, in, store.ImportOptions{Names: names, Changes: changes, Message: message, Source: src, Platform: plat})
			if err != nil {
				return err
			}
			a.printf("%s\n", img.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	fl.StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	fl.StringVar(&platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}

// openImportSource opens what docker import takes: "-" (stdin), a file, or
// an http(s) URL, streamed rather than saved. src names it in the history
// comment ("Imported from SRC").
func openImportSource(ctx context.Context, arg string, stdin io.Reader) (io.ReadCloser, string, error) {
	switch {
	case arg == "-":
		return io.NopCloser(stdin), "-", nil
	case remotecontext.IsURL(arg):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, arg, nil)
		if err != nil {
			return nil, "", usageError{fmt.Errorf("import: %w", err)}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, "", fmt.Errorf("import: downloading %s: %w", arg, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, "", fmt.Errorf("import: downloading %s: %s", arg, untrusted.Text(resp.Status))
		}
		return resp.Body, arg, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, "", fmt.Errorf("import: %w", err)
	}
	return f, arg, nil
}
