package image_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/testenv"
)

// TestOpenChecksDiffIDs: an OCI layout or a docker archive whose config
// lists a wrong diff ID for a layer opens, but reading that layer — to its
// end, or stopping early and closing — fails with the model's one-line
// error naming it; the other layer and a good image read as they are.
func TestOpenChecksDiffIDs(t *testing.T) {
	good := testenv.Image(t, "linux/amd64", testenv.GzipLayer(t, "base"), testenv.GzipLayer(t, "app"))
	cfg, err := good.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	wrong := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	cfg.RootFS.DiffIDs[1] = wrong
	bad, err := mutate.ConfigFile(good, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := good.Layers()
	badLayer, _ := ls[1].Digest()

	write := map[string]func(t *testing.T, img v1.Image) string{
		"oci layout": func(t *testing.T, img v1.Image) string {
			dir := t.TempDir()
			p, err := layout.Write(dir, empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AppendImage(img); err != nil {
				t.Fatal(err)
			}
			return "oci:" + dir
		},
		"docker archive": func(t *testing.T, img v1.Image) string {
			f := filepath.Join(t.TempDir(), "img.tar")
			if err := tarball.WriteToFile(f, nil, img); err != nil {
				t.Fatal(err)
			}
			return "docker-archive:" + f
		},
	}
	for kind, w := range write {
		t.Run(kind, func(t *testing.T) {
			for _, whole := range []bool{true, false} {
				o, err := image.Open(context.Background(), w(t, bad), image.OpenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !o.Verified {
					t.Error("Opened.Verified is false")
				}
				layers, err := o.Layers()
				if err != nil {
					t.Fatal(err)
				}
				for i, l := range layers {
					rc, err := l.Uncompressed()
					if err != nil {
						t.Fatal(err)
					}
					var rerr error
					if whole {
						_, rerr = io.Copy(io.Discard, rc)
					} else {
						_, rerr = rc.Read(make([]byte, 10))
					}
					cerr := rc.Close()
					got := errors.Join(rerr, cerr)
					if i == 0 && got != nil {
						t.Errorf("the good layer: %v", got)
					}
					if i == 1 {
						var me *image.LayerMismatchError
						if !errors.As(got, &me) || me.Layer != badLayer || me.DiffID != wrong ||
							!strings.Contains(got.Error(), "layer "+badLayer.String()+" does not match the image config") {
							t.Errorf("the bad layer (read whole: %v): %v", whole, got)
						}
					}
				}
				o.Close()
			}
			o, err := image.Open(context.Background(), w(t, good), image.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			layers, _ := o.Layers()
			for _, l := range layers {
				rc, _ := l.Uncompressed()
				if _, err := io.Copy(io.Discard, rc); err != nil {
					t.Errorf("a good layer: %v", err)
				}
				if err := rc.Close(); err != nil {
					t.Errorf("a good layer's Close: %v", err)
				}
			}
		})
	}
}
