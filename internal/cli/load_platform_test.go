package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// TestLoadPlatform: load --platform keeps one platform of a multi-platform
// archive as a single-platform image, as docker load --platform does, and
// refuses a platform the archive lacks.
func TestLoadPlatform(t *testing.T) {
	var adds []mutate.IndexAddendum
	children := map[string]v1.Hash{}
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img, err := random.Image(1<<10, 1)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := img.ConfigFile()
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			t.Fatal(err)
		}
		id, _ := img.ConfigName()
		children[p.Architecture] = id
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform:    &p,
			Annotations: map[string]string{"org.opencontainers.image.ref.name": "example.com/multi:1"},
		}})
	}
	dir := filepath.Join(t.TempDir(), "oci")
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add:        mutate.AppendManifests(empty.Index, adds...),
		Descriptor: v1.Descriptor{Annotations: map[string]string{"io.containerd.image.name": "example.com/multi:1", "org.opencontainers.image.ref.name": "1"}},
	})
	if _, err := layout.Write(dir, idx); err != nil {
		t.Fatal(err)
	}
	bin := testenv.Berth(t)
	run := func(env []string, args ...string) testenv.Result {
		return testenv.Run(t, bin, testenv.Cmd{Args: args, Env: env})
	}
	for _, tc := range []struct {
		platform, arch string
	}{
		{"linux/arm64", "arm64"},
		{"linux/amd64", "amd64"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			env := []string{"BERTH_ROOT=" + t.TempDir()}
			r := run(env, "load", "--platform", tc.platform, "-i", dir)
			if r.Code != 0 || !strings.Contains(r.Stdout, "Loaded image: example.com/multi:1") {
				t.Fatalf("load --platform: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			r = run(env, "inspect", "-f", "{{.Architecture}} {{.Id}}", "example.com/multi:1")
			want := tc.arch + " " + children[tc.arch].String()
			if r.Code != 0 || strings.TrimSpace(r.Stdout) != want {
				t.Fatalf("inspect: exit %d %q %s; want %q", r.Code, r.Stdout, r.Stderr, want)
			}
		})
	}
	env := []string{"BERTH_ROOT=" + t.TempDir()}
	r := run(env, "load", "--platform", "linux/s390x", "-i", dir)
	if r.Code != 1 || !strings.Contains(r.Stderr, "does not provide the specified platform (linux/s390x)") {
		t.Fatalf("load of a missing platform: exit %d %s", r.Code, r.Stderr)
	}
	if r := run(env, "images", "-q"); r.Stdout != "" {
		t.Fatalf("a refused load left images: %q", r.Stdout)
	}
}
