package testenv

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// fixtureTime is the modification and creation time of every fixture, so
// that the same seed gives the same bytes and digests on every run.
var fixtureTime = time.Unix(1700000000, 0).UTC()

// LayerTar returns a small layer tar whose bytes depend only on seed: the
// directory SEED/ and three files SEED/f0..f2 with contents derived from
// seed. Different seeds give layers that share no entry, so a test can find
// one layer's bytes inside an archive.
func LayerTar(t testing.TB, seed string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	check(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: seed + "/", Mode: 0o755, ModTime: fixtureTime}))
	for i := 0; i < 3; i++ {
		body := []byte(strings.Repeat(fmt.Sprintf("%s-%d\n", seed, i), 10+i))
		check(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%s/f%d", seed, i), Mode: 0o644, Size: int64(len(body)), ModTime: fixtureTime}))
		_, err := tw.Write(body)
		check(t, err)
	}
	check(t, tw.Close())
	return buf.Bytes()
}

// Gzip compresses b; the same input gives the same bytes (the gzip header
// carries no name or time).
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	check(t, err)
	check(t, zw.Close())
	return buf.Bytes()
}

// Layer is LayerTar(seed) as an uncompressed OCI layer.
func Layer(t testing.TB, seed string) v1.Layer {
	t.Helper()
	return static.NewLayer(LayerTar(t, seed), types.OCIUncompressedLayer)
}

// GzipLayer is LayerTar(seed) as a gzip OCI layer.
func GzipLayer(t testing.TB, seed string) v1.Layer {
	t.Helper()
	gz := Gzip(t, LayerTar(t, seed))
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil },
		tarball.WithMediaType(types.OCILayer))
	check(t, err)
	return l
}

// Image builds an OCI image of layers for platform (os/arch[/variant]) with
// a fixed creation time and config, so that the same layers give the same
// image, digest for digest, on every run.
func Image(t testing.TB, platform string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layers...)
	check(t, err)
	cfg, err := img.ConfigFile()
	check(t, err)
	cfg = cfg.DeepCopy()
	p, err := v1.ParsePlatform(platform)
	check(t, err)
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: fixtureTime}
	cfg.Config.Env = []string{"PATH=/bin"}
	img, err = mutate.ConfigFile(img, cfg)
	check(t, err)
	return img
}

// check fails the test on err. The fixtures build in memory, so an error
// means a broken fixture, not a broken berth.
func check(t testing.TB, err error) {
	if err != nil {
		t.Helper()
		t.Fatal(err)
	}
}
