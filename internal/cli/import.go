package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/berth-dev/berth/internal/build/remotecontext"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/store"
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
			img, err := importRootfs(ctx, s, in, importOptions{Names: names, Changes: changes, Message: message, Source: src, Platform: plat})
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
			return nil, "", fmt.Errorf("import: downloading %s: %s", arg, resp.Status)
		}
		return resp.Body, arg, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, "", fmt.Errorf("import: %w", err)
	}
	return f, arg, nil
}

// importOptions are the options of importRootfs.
type importOptions struct {
	Names    []string     // full references to give the image
	Changes  []string     // Dockerfile instructions (--change)
	Message  string       // history comment; "" is "Imported from SOURCE"
	Source   string       // what was imported, for that comment
	Platform *v1.Platform // nil: this machine's
}

// importRootfs is `import` and POST /images/create?fromSrc=: the root file
// system tar in (plain or compressed) becomes a one-layer image in st.
func importRootfs(ctx context.Context, st *store.Store, in io.Reader, o importOptions) (store.Image, error) {
	cfgFile := image.NewConfigFile(image.Now())
	if p := o.Platform; p != nil {
		cfgFile.OS, cfgFile.Architecture, cfgFile.Variant = p.OS, p.Architecture, p.Variant
	}
	if err := image.ApplyChanges(&cfgFile.Config, o.Changes); err != nil {
		return store.Image{}, err
	}
	plain, _, err := image.Decompress(in)
	if err != nil {
		return store.Image{}, fmt.Errorf("import %s: %w", o.Source, err)
	}
	defer plain.Close()
	bw, err := st.NewBlobWriter()
	if err != nil {
		return store.Image{}, err
	}
	info, err := image.WriteLayer(ctx, plain, bw)
	if err != nil {
		bw.Abort()
		return store.Image{}, fmt.Errorf("import %s: %w", o.Source, err)
	}
	layerDigest, layerSize, err := bw.Commit(v1.Hash{})
	if err != nil {
		return store.Image{}, err
	}
	st.SetLayerFacts(layerDigest, info.DiffID, info.UncompressedSize)
	comment := o.Message
	if comment == "" {
		comment = "Imported from " + o.Source
	}
	cfgFile.RootFS.DiffIDs = []v1.Hash{info.DiffID}
	cfgFile.History = []v1.History{{Created: cfgFile.Created, Comment: comment}}
	cfg, err := image.MarshalConfig(cfgFile)
	if err != nil {
		return store.Image{}, err
	}
	layer := v1.Descriptor{MediaType: types.OCILayer, Size: layerSize, Digest: layerDigest}
	man, err := image.MarshalManifest(cfg.Descriptor, []v1.Descriptor{layer}, nil)
	if err != nil {
		return store.Image{}, err
	}
	for _, b := range []image.Blob{cfg, man} {
		if err := st.WriteBlob(ctx, b.Descriptor.Digest, b.Descriptor.Size, bytes.NewReader(b.Bytes)); err != nil {
			return store.Image{}, err
		}
	}
	return st.AddImage(ctx, man.Descriptor, o.Names...)
}
