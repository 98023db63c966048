package cli

import (
	"context"
	"github.com/berth-dev/berth/internal/archive"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/ref"
)

// exportBuild writes the built image to a --output destination.
func (a *app) exportBuild(ctx context.Context, res *build.Result, o buildOutput, tags []string) error {
	if o.typ == "image" || o.typ == "registry" {
		return nil
	}
	if o.typ == "local" {
		rc := archive.Flatten(ctx, res.Image)
		defer rc.Close()
		return archive.Unpack(ctx, rc, o.dest, archive.UnpackOptions{Owners: true})
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
		rc := archive.Flatten(ctx, res.Image)
		_, err = io.Copy(w, rc)
		rc.Close()
	case "docker", "oci":
		// The same writer as `berth save`: Docker's (or a pure OCI)
		// layout, deterministic, every blob checked as it goes out.
		var names []string
		for _, t := range tags {
			if r, perr := ref.Parse(t); perr == nil {
				names = append(names, ref.FullName(r))
			}
		}
		format := archive.FormatDocker
		if o.typ == "oci" {
			format = archive.FormatOCI
		}
		err = archive.Write(ctx, w, []archive.Entry{{Image: res.Image, Names: names}}, archive.WriteOptions{Format: format})
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
