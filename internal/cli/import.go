package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/berth-dev/berth/internal/build/remotecontext"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
			cfgFile := image.NewConfigFile(image.Now())
			if platform != "" {
				p, err := v1.ParsePlatform(platform)
				if err != nil {
					return usageError{fmt.Errorf("invalid platform %q: %w", platform, err)}
				}
				cfgFile.OS, cfgFile.Architecture, cfgFile.Variant = p.OS, p.Architecture, p.Variant
			}
			if err := image.ApplyChanges(&cfgFile.Config, changes); err != nil {
				return err
			}
			var in io.Reader = a.stdin
			src := "-"
			if remotecontext.IsURL(args[0]) {
				// As docker import URL: the archive is streamed, not saved.
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
				if err != nil {
					return usageError{fmt.Errorf("import: %w", err)}
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return fmt.Errorf("import: downloading %s: %w", args[0], err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("import: downloading %s: %s", args[0], resp.Status)
				}
				in, src = resp.Body, args[0]
			} else if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				in, src = f, args[0]
			}
			plain, err := image.Decompress(in)
			if err != nil {
				return fmt.Errorf("import %s: %w", src, err)
			}
			defer plain.Close()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			bw, err := s.NewBlobWriter()
			if err != nil {
				return err
			}
			info, err := image.WriteLayer(ctx, plain, bw)
			if err != nil {
				bw.Abort()
				return fmt.Errorf("import %s: %w", src, err)
			}
			layerDigest, layerSize, err := bw.Commit(v1.Hash{})
			if err != nil {
				return err
			}
			s.SetLayerSize(layerDigest, info.UncompressedSize)
			comment := message
			if comment == "" {
				comment = "Imported from " + src
			}
			cfgFile.RootFS.DiffIDs = []v1.Hash{info.DiffID}
			cfgFile.History = []v1.History{{Created: cfgFile.Created, Comment: comment}}
			cfg, err := image.MarshalConfig(cfgFile)
			if err != nil {
				return err
			}
			layer := v1.Descriptor{MediaType: types.OCILayer, Size: layerSize, Digest: layerDigest}
			man, err := image.MarshalManifest(cfg.Descriptor, []v1.Descriptor{layer}, nil)
			if err != nil {
				return err
			}
			for _, b := range []image.Blob{cfg, man} {
				if err := s.WriteBlob(ctx, b.Descriptor.Digest, b.Descriptor.Size, bytes.NewReader(b.Bytes)); err != nil {
					return err
				}
			}
			img, err := s.AddImage(ctx, man.Descriptor, names...)
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
