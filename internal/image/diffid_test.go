package image_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/testenv"
)

// TestOpenChecksDiffIDs: a registry image whose config lists a wrong diff
// ID for a layer opens, but reading that layer — to its end, or stopping
// early and closing — fails with the model's one-line error naming it; the
// other layer and a good image read as they are. (The registry reader here
// hands out images pushed into an OCI layout on disk: the wrapper is
// Open's, whatever the client behind it.)
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
	reg := layoutRegistry{dir: t.TempDir()}
	p, err := layout.Write(reg.dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []v1.Image{good, bad} {
		if err := p.AppendImage(img); err != nil {
			t.Fatal(err)
		}
	}
	opts := image.OpenOptions{Registry: reg}
	digestOf := func(img v1.Image) string { d, _ := img.Digest(); return d.String() }

	write := map[string]func(t *testing.T, img v1.Image) string{
		"registry": func(t *testing.T, img v1.Image) string { return "registry:example.com/img@" + digestOf(img) },
	}
	for kind, w := range write {
		t.Run(kind, func(t *testing.T) {
			for _, whole := range []bool{true, false} {
				o, err := image.Open(context.Background(), w(t, bad), opts)
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
			o, err := image.Open(context.Background(), w(t, good), opts)
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

// layoutRegistry is a RegistryReader over the images of an OCI layout, by
// digest.
type layoutRegistry struct{ dir string }

func (r layoutRegistry) RegistryImage(ctx context.Context, s string, p *v1.Platform) (v1.Image, error) {
	_, d, _ := strings.Cut(s, "@")
	h, err := v1.NewHash(d)
	if err != nil {
		return nil, err
	}
	return layout.Path(r.dir).Image(h)
}
