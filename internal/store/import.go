package store

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ImportOptions are the options of Import.
type ImportOptions struct {
	Names    []string     // references to give the image
	Changes  []string     // Dockerfile instructions (--change)
	Message  string       // history comment; "" is "Imported from SOURCE"
	Source   string       // what was imported, for that comment and errors
	Platform *v1.Platform // nil: this machine's
}

// Import is `import` and POST /images/create?fromSrc=: the root file system
// tar in (plain or compressed, detected from its bytes) becomes a one-layer
// image, recorded under o.Names.
func (s *Store) Import(ctx context.Context, in io.Reader, o ImportOptions) (Image, error) {
	cfgFile := image.NewConfigFile(image.Now())
	if p := o.Platform; p != nil {
		cfgFile.OS, cfgFile.Architecture, cfgFile.Variant = p.OS, p.Architecture, p.Variant
	}
	if err := image.ApplyChanges(&cfgFile.Config, o.Changes); err != nil {
		return Image{}, err
	}
	plain, _, err := image.Decompress(in)
	if err != nil {
		return Image{}, fmt.Errorf("import %s: %w", o.Source, err)
	}
	defer plain.Close()
	bw, err := s.NewBlobWriter()
	if err != nil {
		return Image{}, err
	}
	info, err := image.WriteLayer(ctx, plain, bw)
	if err != nil {
		bw.Abort()
		return Image{}, fmt.Errorf("import %s: %w", o.Source, err)
	}
	layerDigest, layerSize, err := bw.Commit(v1.Hash{})
	if err != nil {
		return Image{}, err
	}
	s.SetLayerFacts(layerDigest, info.DiffID, info.UncompressedSize)
	comment := o.Message
	if comment == "" {
		comment = "Imported from " + o.Source
	}
	cfgFile.RootFS.DiffIDs = []v1.Hash{info.DiffID}
	cfgFile.History = []v1.History{{Created: cfgFile.Created, Comment: comment}}
	cfg, err := image.MarshalConfig(cfgFile)
	if err != nil {
		return Image{}, err
	}
	layer := v1.Descriptor{MediaType: types.OCILayer, Size: layerSize, Digest: layerDigest}
	man, err := image.MarshalManifest(cfg.Descriptor, []v1.Descriptor{layer}, nil)
	if err != nil {
		return Image{}, err
	}
	for _, b := range []image.Blob{cfg, man} {
		if err := s.WriteBlob(ctx, b.Descriptor.Digest, b.Descriptor.Size, bytes.NewReader(b.Bytes)); err != nil {
			return Image{}, err
		}
	}
	return s.AddImage(ctx, man.Descriptor, o.Names...)
}
