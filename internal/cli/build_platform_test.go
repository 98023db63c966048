package cli_test

import (
	"archive/tar"
	"bytes"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// archLayer is a layer with one file, /arch, naming arch.
func archLayer(t *testing.T, arch string) v1.Layer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := arch + "\n"
	if err := tw.WriteHeader(&tar.Header{Name: "arch", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	return static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer)
}

// TestBuildPlatform: --platform and FROM --platform pick the child of a
// multi-platform base for the platform asked for (and its build cache is
// its own: an amd64 build never answers an arm64 one); a base that has no
// image for it fails, with the Docker daemon's words, instead of building
// on (and labelling) an image of another platform.
func TestBuildPlatform(t *testing.T) {
	e := newBuildEnv(t)
	base, err := tarball.LayerFromFile(e.baseTar)
	if err != nil {
		t.Fatal(err)
	}
	var adds []mutate.IndexAddendum
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base, archLayer(t, p.Architecture))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := img.ConfigFile()
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture = p.OS, p.Architecture
		cfg.Config.Env = []string{"PATH=/bin"}
		if img, err = mutate.ConfigFile(mutate.ConfigMediaType(img, types.OCIConfigJSON), cfg); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	dir := filepath.Join(t.TempDir(), "oci")
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add:        mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...),
		Descriptor: v1.Descriptor{Annotations: map[string]string{"io.containerd.image.name": "example.com/multi:1", "org.opencontainers.image.ref.name": "1"}},
	})
	if _, err := layout.Write(dir, idx); err != nil {
		t.Fatal(err)
	}
	if _, se, code := e.run("", nil, "load", "-i", dir); code != 0 {
		t.Fatalf("load: %s", se)
	}
	id := func(name string) string {
		so, se, code := e.run("", nil, "inspect", "-f", "{{.Architecture}} {{.Id}}", name)
		if code != 0 {
			t.Fatalf("inspect %s: %s", name, se)
		}
		return strings.TrimSpace(so)
	}
	ctx := ctxDir(t, map[string]string{"Dockerfile": "FROM example.com/multi:1\nCOPY f /f\n", "f": "f\n"})
	e.mustBuild(ctx, "-t", "multi:host")
	e.mustBuild(ctx, "-t", "multi:arm", "--platform", "linux/arm64")
	host, arm := id("multi:host"), id("multi:arm")
	if !strings.HasPrefix(host, "amd64 ") || !strings.HasPrefix(arm, "arm64 ") {
		t.Fatalf("built %q and %q, want amd64 and arm64", host, arm)
	}
	if fs := e.files(ctx, "--platform", "linux/arm64"); fs["arch"] == nil || fs["arch"].PAXRecords["content"] != "arm64\n" {
		t.Errorf("--platform linux/arm64 built on %+v, want the arm64 child", fs["arch"])
	}
	fromArm := ctxDir(t, map[string]string{"Dockerfile": "FROM --platform=linux/arm64 example.com/multi:1\nCOPY f /f\n", "f": "f\n"})
	e.mustBuild(fromArm, "-t", "multi:from-arm")
	if got := id("multi:from-arm"); got != arm {
		t.Errorf("FROM --platform=linux/arm64 built %q, want %q", got, arm)
	}

	// A config that names no platform is this machine's, as the daemon
	// takes it (old images, some tools).
	noArch, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := noArch.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "", ""
	if noArch, err = mutate.ConfigFile(mutate.ConfigMediaType(noArch, types.OCIConfigJSON), cfg); err != nil {
		t.Fatal(err)
	}
	noArchDir := filepath.Join(t.TempDir(), "noarch")
	if _, err := layout.Write(noArchDir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: noArch,
		Descriptor: v1.Descriptor{Annotations: map[string]string{"io.containerd.image.name": "example.com/noarch:1", "org.opencontainers.image.ref.name": "1"}}})); err != nil {
		t.Fatal(err)
	}
	if _, se, code := e.run("", nil, "load", "-i", noArchDir); code != 0 {
		t.Fatalf("load: %s", se)
	}
	e.mustBuild(ctxDir(t, map[string]string{"Dockerfile": "FROM example.com/noarch:1\nCOPY f /f\n", "f": "f\n"}), "--platform", "linux/"+runtime.GOARCH)

	single := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY f /f\n", "f": "f\n"})
	e.mustBuild(single, "-t", "single:host") // the cache now holds an amd64 result
	for _, tc := range []struct {
		name string
		dir  string
		args []string
		want string
	}{
		{"index without the platform", ctx, []string{"--platform", "linux/s390x"},
			"example.com/multi:1: no matching manifest for linux/s390x in the manifest list entries"},
		{"single-platform base", single, []string{"--platform", "linux/arm64"},
			"image with reference busybox was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64"},
		{"FROM --platform", ctxDir(t, map[string]string{"Dockerfile": "FROM --platform=linux/arm64 busybox\nCOPY f /f\n", "f": "f\n"}), nil,
			"does not match the specified platform: wanted linux/arm64, actual: linux/amd64"},
		{"COPY --from an image", ctxDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY --from=busybox /etc/passwd /p\n"}), []string{"--platform", "linux/arm64"},
			"does not match the specified platform: wanted linux/arm64, actual: linux/amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, se, code := e.run(tc.dir, nil, append(append([]string{"build", "-t", "wrong:1"}, tc.args...), ".")...)
			if code != 1 || !strings.Contains(se, tc.want) {
				t.Fatalf("exit %d, want 1 and %q:\n%s", code, tc.want, se)
			}
			if tc.name == "index without the platform" {
				t.Log(se)
			}
			if _, _, code := e.run("", nil, "inspect", "wrong:1"); code == 0 {
				t.Fatal("a refused build tagged an image")
			}
		})
	}
}
