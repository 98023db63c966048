package cli

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	"github.com/berth-dev/berth/internal/testenv"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	gremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// plant pushes img to ref with its config's diff ID for layer i replaced
// by wrong, as a broken or hostile registry would serve it.
func plant(t *testing.T, ref string, img v1.Image, i int, wrong v1.Hash) v1.Image {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.RootFS.DiffIDs[i] = wrong
	bad, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	push(t, ref, bad)
	return bad
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := gremote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

// inspectSize is the Size `berth image inspect` reports.
func inspectSize(t *testing.T, b *berthEnv, ref string) int64 {
	t.Helper()
	out, errOut, code := b.run(t, "", "image", "inspect", ref)
	if code != 0 {
		t.Fatalf("inspect %s: exit %d: %s", ref, code, errOut)
	}
	var v []struct{ Size int64 }
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
		t.Fatalf("inspect output: %v\n%s", err, out)
	}
	return v[0].Size
}

// filesSize is the bytes of a layer tar's regular files, as Docker's
// Size counts them.
func filesSize(t *testing.T, layer []byte) int64 {
	t.Helper()
	var n int64
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			n += h.Size
		}
	}
}

// oneLineNaming fails unless the command failed with berth's one-line
// error naming layer as not matching its image config.
func oneLineNaming(t *testing.T, what, stderr string, code int, layer v1.Hash) {
	t.Helper()
	if code == 0 {
		t.Errorf("%s: exit 0, want a refusal", what)
		return
	}
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "berth: error: ") {
			if !strings.Contains(l, "layer "+layer.String()+" does not match the image config") {
				t.Errorf("%s: the error does not name layer %s as not matching:\n%s", what, layer, stderr)
			}
			t.Logf("%s: %s", what, l)
			return
		}
	}
	t.Errorf("%s: no error line:\n%s", what, stderr)
}

// TestPullVerifiesDiffIDs pulls from the CNCF registry an image whose
// config lists a wrong diff ID for one of its gzip layers. The pull itself
// does not decompress the layers (sizes come from the gzip trailers and are
// right at once); the first command that reads the layer refuses it with
// one line naming it — build FROM it, dive, scan — and system check reports
// it. Dive and scan read from the registry without pulling refuse it the
// same way. A zstd layer, whose size is counted while pulling, is refused
// by the pull.
func TestPullVerifiesDiffIDs(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	layers := []v1.Layer{testenv.GzipLayer(t, "base"), testenv.GzipLayer(t, "app")}
	good := testenv.Image(t, "linux/amd64", layers...)
	goodRef := reg.Host + "/verify/good:1"
	push(t, goodRef, good)
	badRef := reg.Host + "/verify/bad:1"
	wrong := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	plant(t, badRef, good, 1, wrong)
	badLayer, _ := layers[1].Digest()
	// Docker's Size: the bytes of the layers' files (not of their tars).
	wantSize := filesSize(t, testenv.LayerTar(t, "base")) + filesSize(t, testenv.LayerTar(t, "app"))

	b := newBerthEnv(t)
	for _, ref := range []string{goodRef, badRef} {
		if _, errOut, code := b.run(t, "", "pull", "-q", ref); code != 0 {
			t.Fatalf("pull %s: exit %d: %s", ref, code, errOut)
		}
		// The size, right as soon as the pull returns.
		if got := inspectSize(t, b, ref); got != wantSize {
			t.Errorf("%s: Size %d right after the pull, want %d (the bytes of the layers' files)", ref, got, wantSize)
		}
	}

	t.Run("dive", func(t *testing.T) {
		_, errOut, code := b.run(t, "", "dive", "--ci", badRef)
		oneLineNaming(t, "dive", errOut, code, badLayer)
		if _, errOut, code := b.run(t, "", "dive", "--ci", goodRef); code != 0 {
			t.Errorf("dive of the good image: exit %d: %s", code, errOut)
		}
	})

	t.Run("build", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
		for _, dockerfile := range []string{
			// COPY reads the base's tree: refused while reading.
			"FROM " + badRef + "\nCOPY f /f\n",
			"FROM " + badRef + "\nCOPY --chown=nobody f /f\n",
			// Nothing reads the base: refused before the image is kept.
			"FROM " + badRef + "\nLABEL a=b\n",
		} {
			os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644)
			_, errOut, code := b.run(t, "", "build", "-q", "-t", "derived:1", dir)
			oneLineNaming(t, "build "+strings.ReplaceAll(dockerfile, "\n", "; "), errOut, code, badLayer)
		}
		if _, _, code := b.run(t, "", "image", "inspect", "derived:1"); code == 0 {
			t.Error("a build FROM the broken image was stored")
		}
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+goodRef+"\nCOPY f /f\n"), 0o644)
		if _, errOut, code := b.run(t, "", "build", "-q", "-t", "derived:1", dir); code != 0 {
			t.Errorf("build FROM the good image: exit %d: %s", code, errOut)
		}
	})

	t.Run("scan", func(t *testing.T) {
		osv := t.TempDir()
		os.WriteFile(filepath.Join(osv, "X.json"), []byte(`{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/text"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`), 0o644)
		if _, errOut, code := b.run(t, "", "scan", "db", "import", osv); code != 0 {
			t.Fatalf("db import: exit %d: %s", code, errOut)
		}
		_, errOut, code := b.run(t, "", "scan", badRef)
		oneLineNaming(t, "scan", errOut, code, badLayer)
		if _, errOut, code := b.run(t, "", "scan", goodRef); code != 0 {
			t.Errorf("scan of the good image: exit %d: %s", code, errOut)
		}
	})

	// Read straight from the registry, through berth's client, without
	// pulling: the same refusal, the first time the layer is analysed.
	t.Run("dive and scan of the registry image", func(t *testing.T) {
		for _, args := range [][]string{{"dive", "--ci", "registry:" + badRef}, {"scan", "registry:" + badRef}} {
			_, errOut, code := b.run(t, "", args...)
			oneLineNaming(t, strings.Join(args, " "), errOut, code, badLayer)
			good := append(append([]string{}, args[:len(args)-1]...), "registry:"+goodRef)
			if _, errOut, code := b.run(t, "", good...); code != 0 {
				t.Errorf("%s: exit %d: %s", strings.Join(good, " "), code, errOut)
			}
		}
	})

	t.Run("system check", func(t *testing.T) {
		out, errOut, code := b.run(t, "", "system", "check")
		if code == 0 {
			t.Fatalf("system check passed:\n%s", out)
		}
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, badLayer.String()) {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "verify/bad:1") || strings.Contains(out, "verify/good") {
			t.Errorf("system check output (exit %d):\n%s%s", code, out, errOut)
		}
	})

	t.Run("zstd layer refused by the pull", func(t *testing.T) {
		var buf bytes.Buffer
		zw, _ := zstd.NewWriter(&buf)
		zw.Write(testenv.LayerTar(t, "zstd"))
		zw.Close()
		zl := static.NewLayer(buf.Bytes(), types.OCILayerZStd)
		img := testenv.Image(t, "linux/amd64", zl)
		ref := reg.Host + "/verify/zstd:1"
		plant(t, ref, img, 0, wrong)
		zd, _ := zl.Digest()
		_, errOut, code := b.run(t, "", "pull", "-q", ref)
		oneLineNaming(t, "pull of a zstd layer", errOut, code, zd)
		if _, _, code := b.run(t, "", "image", "inspect", ref); code == 0 {
			t.Error("the refused image was recorded")
		}
	})
}
