package analyze_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-dev/berth/internal/analyze"
	"github.com/berth-dev/berth/internal/analyze/imagetest"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	bremote "github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testenv"
)

// summary is what must not depend on where the image came from.
type summary struct {
	Efficiency     float64
	Wasted, Size   uint64
	LayerSizes     []int64
	Commands       []string
	Inefficiencies []string
	Hints          []string
}

func summarize(r *analyze.Report) summary {
	s := summary{Efficiency: r.Efficiency, Wasted: r.WastedBytes, Size: r.SizeBytes}
	for _, l := range r.Layers {
		s.LayerSizes = append(s.LayerSizes, l.Size)
		s.Commands = append(s.Commands, l.Command)
	}
	for _, in := range r.Inefficiencies {
		b, _ := json.Marshal(in)
		s.Inefficiencies = append(s.Inefficiencies, string(b))
	}
	for _, h := range r.Hints {
		s.Hints = append(s.Hints, h.Message)
	}
	return s
}

// registryClient reads registries with berth's own client (no settings
// file, no logins, no certs.d), as dive and scan do.
type registryClient struct{ c *bremote.Client }

func (r registryClient) RegistryImage(ctx context.Context, s string, p *v1.Platform) (v1.Image, error) {
	rf, err := ref.Parse(s)
	if err != nil {
		return nil, err
	}
	return r.c.Image(ctx, rf, p)
}

func newRegistryClient(t *testing.T) registryClient {
	t.Helper()
	c, err := bremote.New(bremote.Options{Settings: &bremote.Settings{}, DockerConfigDir: t.TempDir(), CertsDirs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return registryClient{c}
}

// storeImages opens images of a berth store for the opener.
type storeImages struct{ st *store.Store }

func (s storeImages) StoreImage(ctx context.Context, n string, p *v1.Platform) (v1.Image, error) {
	found, err := s.st.Lookup(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", image.ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	return s.st.Image(ctx, found, p)
}

func open(t *testing.T, arg string, opts image.OpenOptions) *analyze.Report {
	t.Helper()
	ctx := context.Background()
	img, err := image.Open(ctx, arg, opts)
	if err != nil {
		t.Fatalf("opening %s: %v", arg, err)
	}
	defer img.Close()
	r, err := analyze.Analyze(ctx, img, img.Name, string(img.Kind), analyze.Options{StoredBlobs: img.StoredBlobs})
	if err != nil {
		t.Fatalf("analyzing %s: %v", arg, err)
	}
	return r
}

// tarDir writes dir as an uncompressed tar (an OCI archive when dir is a layout).
func tarDir(t *testing.T, dir, file string) {
	t.Helper()
	out, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := d.Info()
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: fi.Size()}); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// wasteArchive writes imagetest's wasteful image as a Docker archive in dir.
func wasteArchive(t *testing.T, dir string) string {
	t.Helper()
	archive := filepath.Join(dir, "waste.tar")
	if err := imagetest.WriteDockerArchive(archive, "waste:latest", dir, imagetest.Waste()); err != nil {
		t.Fatal(err)
	}
	return archive
}

// wasteLayout copies the image of archive into an OCI layout dir/layout,
// named "waste", and returns the image and the layout's path.
func wasteLayout(t *testing.T, archive, dir string) (v1.Image, string) {
	t.Helper()
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	lay := filepath.Join(dir, "layout")
	lp, err := layout.Write(lay, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "waste"})); err != nil {
		t.Fatal(err)
	}
	return img, lay
}

func TestSameReportFromEverySource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	archive := wasteArchive(t, dir)
	// OCI layout (gzip layers, as gcr writes them) and its archive.
	img, lay := wasteLayout(t, archive, dir)
	ociArchive := filepath.Join(dir, "waste-oci.tar")
	tarDir(t, lay, ociArchive)
	// A registry on 127.0.0.1, reached over plain HTTP.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, err := name.ParseReference(host+"/waste:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	// berth's store.
	st, err := store.Open(ctx, filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ociImg, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := ociImg.IndexManifest()
	stored, _ := ociImg.Image(im.Manifests[0].Digest)
	if err := st.WriteImage(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddImage(ctx, im.Manifests[0], "docker.io/library/waste:latest"); err != nil {
		t.Fatal(err)
	}
	storeOpener := storeImages{st}
	reg := newRegistryClient(t)

	want := summarize(open(t, "docker-archive:"+archive, image.OpenOptions{}))
	if want.Wasted != imagetest.WasteWasted {
		t.Fatalf("docker archive wasted = %d", want.Wasted)
	}
	for _, c := range []struct {
		arg  string
		opts image.OpenOptions
	}{
		{archive, image.OpenOptions{}},
		{"docker-archive://" + archive, image.OpenOptions{}},
		{"oci:" + lay, image.OpenOptions{}},
		{"oci:" + lay + ":waste", image.OpenOptions{}},
		{lay, image.OpenOptions{}},
		{"oci-archive:" + ociArchive, image.OpenOptions{}},
		{ociArchive, image.OpenOptions{}},
		{"registry:" + host + "/waste:latest", image.OpenOptions{Registry: reg}},
		{host + "/waste:latest", image.OpenOptions{Kind: image.SourceRegistry, Registry: reg}},
		{host + "/waste:latest", image.OpenOptions{Store: storeOpener, Registry: reg, RegistryFallback: true}},
		{"waste", image.OpenOptions{Store: storeOpener}},
		{"berth:waste:latest", image.OpenOptions{Store: storeOpener}},
	} {
		t.Run(c.arg, func(t *testing.T) {
			if got := summarize(open(t, c.arg, c.opts)); !reflect.DeepEqual(got, want) {
				t.Errorf("report differs:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestPlatformPicksFromIndex(t *testing.T) {
	dir := t.TempDir()
	mk := func(size int64) v1.Image {
		p := filepath.Join(dir, "a.tar")
		if err := imagetest.WriteDockerArchive(p, "x:latest", dir, []imagetest.Layer{{CreatedBy: "x", Files: []imagetest.File{{Path: "f", Size: size}}}}); err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Read it into memory form before the file is overwritten.
		layers, _ := img.Layers()
		out, err := mutate.AppendLayers(empty.Image, layers...)
		if err != nil {
			t.Fatal(err)
		}
		lay := filepath.Join(dir, "tmp"+string(rune('a'+size%26)))
		lp, _ := layout.Write(lay, empty.Index)
		if err := lp.AppendImage(out); err != nil {
			t.Fatal(err)
		}
		ii, _ := layout.ImageIndexFromPath(lay)
		m, _ := ii.IndexManifest()
		i2, _ := ii.Image(m.Manifests[0].Digest)
		return i2
	}
	amd, arm := mk(111), mk(222)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	lay := filepath.Join(dir, "multi")
	lp, err := layout.Write(lay, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "multi"})); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		plat string
		size int64
	}{{"linux/amd64", 111}, {"linux/arm64", 222}, {"linux/arm64/v8", 222}} {
		p, _ := v1.ParsePlatform(c.plat)
		r := open(t, "oci:"+lay+":multi", image.OpenOptions{Platform: p})
		if r.SizeBytes != uint64(c.size) {
			t.Errorf("%s: size %d, want %d", c.plat, r.SizeBytes, c.size)
		}
	}
	p, _ := v1.ParsePlatform("linux/s390x")
	if _, err := image.Open(context.Background(), "oci:"+lay+":multi", image.OpenOptions{Platform: p}); err == nil || !strings.Contains(err.Error(), "no matching manifest for linux/s390x") {
		t.Errorf("missing platform: %v", err)
	}
}

// skopeo writes the OCI archive and layout (zstd layers for the layout) and
// berth reads them: interop with a real peer.
func TestSkopeoWrittenImages(t *testing.T) {
	skopeo := testenv.Peer(t, "skopeo")
	dir := t.TempDir()
	archive := wasteArchive(t, dir)
	want := summarize(open(t, archive, image.OpenOptions{}))
	for _, c := range []struct {
		dest, arg string
		args      []string
	}{
		{"oci-archive:" + filepath.Join(dir, "s.tar"), filepath.Join(dir, "s.tar"), nil},
		{"oci:" + filepath.Join(dir, "zst") + ":waste", "oci:" + filepath.Join(dir, "zst") + ":waste", []string{"--dest-compress-format", "zstd"}},
	} {
		args := append([]string{"copy", "-q"}, c.args...)
		args = append(args, "docker-archive:"+archive, c.dest)
		if out, err := exec.Command(skopeo, args...).CombinedOutput(); err != nil {
			t.Fatalf("skopeo %v: %v\n%s", args, err, out)
		}
		t.Run(c.dest, func(t *testing.T) {
			got := summarize(open(t, c.arg, image.OpenOptions{}))
			// skopeo rewrites history and config but not the files.
			got.Commands, want.Commands = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("report differs:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestCNCFRegistry pushes with skopeo to the CNCF distribution registry
// (Debian's docker-registry) on 127.0.0.1 and analyzes the image straight
// from it.
func TestCNCFRegistry(t *testing.T) {
	reg := testenv.Peer(t, "docker-registry")
	skopeo := testenv.Peer(t, "skopeo")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(reg, "serve", cfgPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	archive := wasteArchive(t, dir)
	if out, err := exec.Command(skopeo, "copy", "-q", "--dest-tls-verify=false", "docker-archive:"+archive, "docker://"+addr+"/waste:1").CombinedOutput(); err != nil {
		t.Fatalf("skopeo push: %v\n%s", err, out)
	}
	want := summarize(open(t, archive, image.OpenOptions{}))
	got := summarize(open(t, "registry:"+addr+"/waste:1", image.OpenOptions{Registry: newRegistryClient(t)}))
	got.Commands, want.Commands = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report differs:\n got %+v\nwant %+v", got, want)
	}
}

func TestTamperedLayoutBlob(t *testing.T) {
	dir := t.TempDir()
	archive := wasteArchive(t, dir)
	_, lay := wasteLayout(t, archive, dir)
	ii, _ := layout.ImageIndexFromPath(lay)
	im, _ := ii.IndexManifest()
	stored, _ := ii.Image(im.Manifests[0].Digest)
	sm, _ := stored.Manifest()
	// Swap in another layer's bytes: a valid gzip tar, only the digest can tell.
	blob := filepath.Join(lay, "blobs", "sha256", sm.Layers[3].Digest.Hex)
	data, err := os.ReadFile(filepath.Join(lay, "blobs", "sha256", sm.Layers[2].Digest.Hex))
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(blob, 0o644)
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := image.Open(context.Background(), "oci:"+lay, image.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = analyze.Analyze(context.Background(), src, "x", "oci", analyze.Options{StoredBlobs: true})
	if err == nil || !strings.Contains(err.Error(), "does not match its") {
		t.Errorf("err = %v", err)
	}
}
