package cli

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// exportBuild writes the built image to a --output destination.
func (a *app) exportBuild(ctx context.Context, res *build.Result, o buildOutput, tags []string) error {
	if o.typ == "image" || o.typ == "registry" {
		return nil
	}
	if o.typ == "local" {
		rc := mutate.Extract(res.Image)
		defer rc.Close()
		return untarTo(rc, o.dest, true)
	}
	var w io.Writer = a.stdout
	var af *os.File
	if o.dest != "" && o.dest != "-" {
		dir := filepath.Dir(o.dest)
		var err error
		if af, err = os.CreateTemp(dir, ".berth-output-*"); err != nil {
			return err
		}
		defer func() {
			if af != nil {
				af.Close()
				os.Remove(af.Name())
			}
		}()
		w = af
	}
	var err error
	switch o.typ {
	case "tar":
		rc := mutate.Extract(res.Image)
		_, err = io.Copy(w, rc)
		rc.Close()
	case "docker":
		refs := map[name.Reference]v1.Image{}
		for _, t := range tags {
			if r, perr := ref.Parse(t); perr == nil {
				refs[r] = res.Image
			}
		}
		if len(refs) == 0 {
			err = tarball.Write(nil, res.Image, w)
		} else {
			err = tarball.MultiRefWrite(refs, w)
		}
	case "oci":
		err = writeOCIArchive(res, tags, w)
	}
	if err != nil {
		return err
	}
	if af != nil {
		if err := af.Sync(); err != nil {
			return err
		}
		if err := af.Close(); err != nil {
			return err
		}
		if err := os.Rename(af.Name(), o.dest); err != nil {
			return err
		}
		af = nil
	}
	return nil
}

// writeOCIArchive writes an OCI image layout as a tar (what
// `--output type=oci` produces): oci-layout, index.json, blobs/sha256/*.
func writeOCIArchive(res *build.Result, tags []string, w io.Writer) error {
	tw := tar.NewWriter(w)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	desc := res.Manifest
	if len(tags) > 0 {
		if r, err := ref.Parse(tags[0]); err == nil {
			desc.Annotations = map[string]string{"org.opencontainers.image.ref.name": ref.FullName(r)}
		}
	}
	idx, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json", Manifests: []v1.Descriptor{desc}})
	if err != nil {
		return err
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := add("index.json", idx); err != nil {
		return err
	}
	raw, err := res.Image.RawManifest()
	if err != nil {
		return err
	}
	if err := add("blobs/sha256/"+desc.Digest.Hex, raw); err != nil {
		return err
	}
	cfg, err := res.Image.RawConfigFile()
	if err != nil {
		return err
	}
	if err := add("blobs/sha256/"+res.ID.Hex, cfg); err != nil {
		return err
	}
	layers, err := res.Image.Layers()
	if err != nil {
		return err
	}
	seen := map[v1.Hash]bool{}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		size, err := l.Size()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + d.Hex, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			rc.Close()
			return err
		}
		_, err = io.Copy(tw, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("writing layer %s: %w", d, err)
		}
	}
	return tw.Close()
}
