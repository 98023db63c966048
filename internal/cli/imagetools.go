package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

// newBuildxCmd is `berth buildx`: the buildx command lines CI files carry
// (`docker buildx build`, `docker buildx imagetools inspect`), served by
// berth's own builder and image model.
func (a *app) newBuildxCmd() *cobra.Command {
	cmd := groupCmd("buildx", "Docker Buildx compatible commands")
	imagetools := groupCmd("imagetools", "Commands to work on images in registry")
	imagetools.AddCommand(a.newImagetoolsInspectCmd())
	cmd.AddCommand(a.newBuildCmd(), imagetools, a.newBuilderPruneCmd(), a.newBuilderDuCmd())
	return cmd
}

func (a *app) newImagetoolsInspectCmd() *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME",
		Short: "Show details of an image: its manifests, platforms and attestations",
		Long: "Show details of an image as `docker buildx imagetools inspect` does: the index, each manifest's platform,\n" +
			"and the attestation manifests (SBOM, provenance) BuildKit and `berth build --sbom --provenance` attach.\n" +
			"The local store is read first; a name it does not hold is read from its registry.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := a.manifestTree(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if raw {
				_, err := a.stdout.Write(append(bytes.TrimSpace(t.raw), '\n'))
				return err
			}
			return renderImagetools(a.stdout, t)
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "Show original, unformatted JSON manifest")
	return cmd
}

// manifestTree is a name's top manifest and a reader of its children.
type manifestTree struct {
	name     string // the full name, docker.io/library/app:1
	raw      []byte
	desc     v1.Descriptor
	byDigest func(v1.Hash) ([]byte, error)
}

func (a *app) manifestTree(ctx context.Context, arg string) (manifestTree, error) {
	r, err := ref.Parse(arg)
	if err != nil {
		return manifestTree{}, fmt.Errorf("%s: %w", arg, err)
	}
	t := manifestTree{name: ref.FullName(r)}
	st, err := a.openStore(ctx)
	if err != nil {
		return t, err
	}
	if img, err := st.Lookup(ctx, arg); err == nil {
		t.raw, err = st.ReadBlob(img.Digest)
		t.desc = v1.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: int64(len(t.raw))}
		t.byDigest = st.ReadBlob
		return t, err
	} else if !errors.Is(err, store.ErrNotFound) {
		return t, err
	}
	c, err := a.newRemoteClient(nil)
	if err != nil {
		return t, err
	}
	t.raw, t.desc, t.byDigest, err = c.Manifest(ctx, r)
	return t, remoteErr(err)
}

// renderImagetools prints buildx's layout: Name/MediaType/Digest, then
// each manifest with its platform and annotations; attestation manifests
// are named by the predicate types of their statements.
func renderImagetools(w io.Writer, t manifestTree) error {
	fmt.Fprintf(w, "Name:      %s\n", t.name)
	fmt.Fprintf(w, "MediaType: %s\n", t.desc.MediaType)
	fmt.Fprintf(w, "Digest:    %s\n", t.desc.Digest)
	if !t.desc.MediaType.IsIndex() {
		return nil
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(t.raw, &idx); err != nil {
		return fmt.Errorf("%s: invalid index: %w", t.name, err)
	}
	atts, err := image.Attestations(&idx, t.byDigest)
	if err != nil {
		return err
	}
	preds := map[v1.Hash][]string{}
	for _, at := range atts {
		preds[at.Descriptor.Digest] = at.PredicateTypes
	}
	repo := t.name
	if r, err := ref.Parse(t.name); err == nil {
		repo = ref.Repository(r)
	}
	fmt.Fprintf(w, "           \nManifests: \n")
	for i, d := range idx.Manifests {
		if i > 0 {
			fmt.Fprintf(w, "             \n")
		}
		fmt.Fprintf(w, "  Name:        %s@%s\n", repo, d.Digest)
		fmt.Fprintf(w, "  MediaType:   %s\n", d.MediaType)
		if d.Platform != nil {
			fmt.Fprintf(w, "  Platform:    %s\n", d.Platform.String())
		}
		if p := preds[d.Digest]; len(p) > 0 {
			fmt.Fprintf(w, "  Predicates:  %s\n", strings.Join(p, ", "))
		}
		if len(d.Annotations) > 0 {
			fmt.Fprintf(w, "  Annotations: \n")
			keys := make([]string, 0, len(d.Annotations))
			width := 0
			for k := range d.Annotations {
				keys = append(keys, k)
				width = max(width, len(k))
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "    %-*s %s\n", width+1, k+":", d.Annotations[k])
			}
		}
	}
	return nil
}
