package cli_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
	"github.com/berth-dev/berth/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testImage builds a small OCI image for platform with two gzip layers
// whose files derive from seed (SEED-0/ and SEED-1/).
func testImage(t *testing.T, seed, platform string) v1.Image {
	t.Helper()
	return testenv.Image(t, platform, testenv.GzipLayer(t, seed+"-0"), testenv.GzipLayer(t, seed+"-1"))
}

// ociDir writes img to an OCI layout directory under tag.
func ociDir(t *testing.T, img v1.Image, tag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	must(t, err)
	must(t, p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})))
	return dir
}

// seed stores x (image or index) in the berth store at root under names.
func seed(t *testing.T, root string, x partial.Describable, names ...string) store.Image {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, root)
	must(t, err)
	defer st.Close()
	return storetest.Add(t, st, x, names...)
}

func lookup(t *testing.T, root, query string) store.Image {
	t.Helper()
	st, err := store.Open(context.Background(), root)
	must(t, err)
	defer st.Close()
	img, err := st.Lookup(context.Background(), query)
	must(t, err)
	return img
}

type result struct {
	stdout, stderr string
	code           int
}

// berth runs the berth binary against the store at root.
func berth(t *testing.T, root string, stdin io.Reader, args ...string) result {
	t.Helper()
	r := testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: append([]string{"--root", root}, args...), Stdin: stdin})
	return result{r.Stdout, r.Stderr, r.Code}
}

func berthOK(t *testing.T, root string, args ...string) string {
	t.Helper()
	r := berth(t, root, nil, args...)
	if r.code != 0 {
		t.Fatalf("berth %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testenv.Peer(t, name), args...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return string(out)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func digestBytes(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// skopeoInspect returns skopeo's view of an archive: the manifest digest it
// reports and the digest of the config bytes it reads.
func skopeoInspect(t *testing.T, transport string) (manifest, config string) {
	t.Helper()
	var info struct{ Digest string }
	must(t, json.Unmarshal([]byte(run(t, "skopeo", "inspect", transport)), &info))
	cfg := run(t, "skopeo", "inspect", "--config", "--raw", transport)
	return info.Digest, digestBytes([]byte(cfg))
}

// layoutManifest reads the single manifest of an OCI layout directory.
func layoutManifest(t *testing.T, dir string) (v1.Hash, *v1.Manifest) {
	t.Helper()
	p, err := layout.FromPath(dir)
	must(t, err)
	idx, err := p.ImageIndex()
	must(t, err)
	im, err := idx.IndexManifest()
	must(t, err)
	if len(im.Manifests) != 1 {
		t.Fatalf("layout %s has %d manifests", dir, len(im.Manifests))
	}
	img, err := p.Image(im.Manifests[0].Digest)
	must(t, err)
	m, err := img.Manifest()
	must(t, err)
	return im.Manifests[0].Digest, m
}

// TestLoadSkopeoArchives: archives skopeo writes load with the digests of
// the image they came from.
func TestLoadSkopeoArchives(t *testing.T) {
	img := testImage(t, "from-skopeo", "linux/amd64")
	src := ociDir(t, img, "v1")
	cfgName, err := img.ConfigName()
	must(t, err)
	manifest, err := img.Digest()
	must(t, err)
	for _, tc := range []struct {
		name, dest, loaded string
		sameManifest       bool
	}{
		{"docker-archive", "docker-archive:%s:example.com/app:v1", "Loaded image: example.com/app:v1\n", false},
		{"oci-archive-named", "oci-archive:%s:example.com/app:v1", "Loaded image: example.com/app:v1\n", true},
		{"oci-archive-tag-only", "oci-archive:%s:v1", "Loaded image ID: " + cfgName.String() + "\n", true},
		{"oci-layout-directory", "oci:%s:example.com/app:v1", "Loaded image: example.com/app:v1\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "a.tar")
			if strings.HasPrefix(tc.dest, "oci:") {
				file = filepath.Join(t.TempDir(), "layout")
			}
			run(t, "skopeo", "copy", "oci:"+src+":v1", fmt.Sprintf(tc.dest, file))
			root := t.TempDir()
			if out := berthOK(t, root, "load", "-i", file); out != tc.loaded {
				t.Errorf("load printed %q, want %q", out, tc.loaded)
			}
			rec := lookup(t, root, cfgName.String())
			if rec.ID != cfgName {
				t.Errorf("image ID %s, want %s", rec.ID, cfgName)
			}
			if tc.sameManifest && rec.Digest != manifest {
				t.Errorf("manifest %s, want %s", rec.Digest, manifest)
			}
			if !tc.sameManifest {
				// skopeo's docker-archive holds layers uncompressed; the
				// loaded manifest names exactly the image's diff IDs.
				st, err := store.Open(context.Background(), root)
				must(t, err)
				defer st.Close()
				m, err := st.Manifest(rec.Digest)
				must(t, err)
				cfg, err := img.ConfigFile()
				must(t, err)
				for i, l := range m.Layers {
					if l.Digest != cfg.RootFS.DiffIDs[i] {
						t.Errorf("layer %d is %s, want diff ID %s", i, l.Digest, cfg.RootFS.DiffIDs[i])
					}
				}
				// And skopeo reports the same manifest for its archive as for
				// berth's re-save of it (skopeo → berth → skopeo).
				again := filepath.Join(t.TempDir(), "again.tar")
				berthOK(t, root, "save", "-o", again, "example.com/app:v1")
				m1, c1 := skopeoInspect(t, "docker-archive:"+file)
				m2, c2 := skopeoInspect(t, "docker-archive:"+again)
				if m1 != m2 || c1 != c2 || c1 != cfgName.String() {
					t.Errorf("skopeo sees %s/%s in its archive, %s/%s in berth's", m1, c1, m2, c2)
				}
			}
		})
	}
}

// TestSaveReadByPeers: what berth saves, skopeo and umoci read with the same
// digests, and berth loads back what skopeo copies.
func TestSaveReadByPeers(t *testing.T) {
	img := testImage(t, "to-skopeo", "linux/amd64")
	root := t.TempDir()
	rec := seed(t, root, img, "example.com/app:v1")
	dir := t.TempDir()

	t.Run("docker-format", func(t *testing.T) {
		file := filepath.Join(dir, "docker.tar")
		berthOK(t, root, "save", "-o", file, "example.com/app:v1")
		_, cfg := skopeoInspect(t, "docker-archive:"+file)
		if cfg != rec.ID.String() {
			t.Errorf("skopeo reads config %s, want %s", cfg, rec.ID)
		}
		// skopeo's own docker-archive of the same image looks the same to
		// it, and copies to the same OCI image (skopeo rewrites the config
		// when it turns a docker-archive into OCI, the same way for both).
		theirs := filepath.Join(dir, "theirs.tar")
		run(t, "skopeo", "copy", "oci:"+ociDir(t, img, "v1")+":v1", "docker-archive:"+theirs+":example.com/app:v1")
		m1, c1 := skopeoInspect(t, "docker-archive:"+theirs)
		m2, c2 := skopeoInspect(t, "docker-archive:"+file)
		if m1 != m2 || c1 != c2 {
			t.Errorf("skopeo sees %s/%s in its archive, %s/%s in berth's", m1, c1, m2, c2)
		}
		ours, theirsDir := filepath.Join(dir, "from-berth"), filepath.Join(dir, "from-skopeo")
		run(t, "skopeo", "copy", "docker-archive:"+file, "oci:"+ours+":v1")
		run(t, "skopeo", "copy", "docker-archive:"+theirs, "oci:"+theirsDir+":v1")
		d1, mf1 := layoutManifest(t, ours)
		d2, mf2 := layoutManifest(t, theirsDir)
		if d1 != d2 || mf1.Config.Digest != mf2.Config.Digest {
			t.Errorf("skopeo copies berth's archive to %s (config %s), its own to %s (config %s)", d1, mf1.Config.Digest, d2, mf2.Config.Digest)
		}
		// berth → skopeo → berth.
		back := filepath.Join(dir, "back.tar")
		run(t, "skopeo", "copy", "docker-archive:"+file, "docker-archive:"+back+":example.com/app:v1")
		root2 := t.TempDir()
		berthOK(t, root2, "load", "-i", back)
		if got := lookup(t, root2, "example.com/app:v1"); got.ID != rec.ID {
			t.Errorf("round trip gives ID %s, want %s", got.ID, rec.ID)
		}
	})

	t.Run("oci-format", func(t *testing.T) {
		file := filepath.Join(dir, "oci.tar")
		berthOK(t, root, "save", "--format", "oci", "-o", file, "example.com/app:v1")
		m, cfg := skopeoInspect(t, "oci-archive:"+file)
		if m != rec.Digest.String() || cfg != rec.ID.String() {
			t.Errorf("skopeo reads %s/%s, want %s/%s", m, cfg, rec.Digest, rec.ID)
		}
		out := filepath.Join(dir, "from-oci")
		run(t, "skopeo", "copy", "oci-archive:"+file, "oci:"+out+":v1")
		if d, _ := layoutManifest(t, out); d != rec.Digest {
			t.Errorf("skopeo copied manifest %s, want %s", d, rec.Digest)
		}
		// berth → skopeo → berth keeps the manifest digest.
		back := filepath.Join(dir, "back-oci.tar")
		run(t, "skopeo", "copy", "oci-archive:"+file, "oci-archive:"+back+":example.com/app:v1")
		root2 := t.TempDir()
		berthOK(t, root2, "load", "-i", back)
		if got := lookup(t, root2, "example.com/app:v1"); got.Digest != rec.Digest {
			t.Errorf("round trip gives %s, want %s", got.Digest, rec.Digest)
		}

		// umoci reads the layout and unpacks the image.
		umoci := testenv.Peer(t, "umoci")
		lay := filepath.Join(dir, "layout")
		must(t, os.MkdirAll(lay, 0o755))
		untar(t, file, lay)
		if out := run(t, umoci, "ls", "--layout", lay); !strings.Contains(out, "v1") {
			t.Errorf("umoci ls: %q, want the tag v1", out)
		}
		bundle := filepath.Join(dir, "bundle")
		args := []string{"unpack", "--image", lay + ":v1", bundle}
		if os.Geteuid() != 0 {
			args = append([]string{"unpack", "--rootless"}, args[1:]...)
		}
		run(t, umoci, args...)
		if _, err := os.Stat(filepath.Join(bundle, "rootfs", "to-skopeo-1", "f0")); err != nil {
			t.Errorf("umoci unpack: %v", err)
		}
	})
}

func untar(t *testing.T, file, dir string) {
	t.Helper()
	cmd := exec.Command("tar", "-xf", file, "-C", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
}

// TestSaveLoadCLI covers the command lines: streams, names, platforms,
// errors and exit codes.
func TestSaveLoadCLI(t *testing.T) {
	a := testImage(t, "cli-a", "linux/amd64")
	amd := testImage(t, "cli-amd64", "linux/amd64")
	arm := testImage(t, "cli-arm64", "linux/arm64/v8")
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	root := t.TempDir()
	recA := seed(t, root, a, "docker.io/library/cli:1", "docker.io/library/cli:2")
	recIdx := seed(t, root, idx, "docker.io/library/multi:latest")
	armDigest, err := arm.Digest()
	must(t, err)

	// saveLoad saves args to stdout and loads the bytes into a new store
	// through stdin, returning load's output and the new store.
	saveLoad := func(t *testing.T, args ...string) (string, string) {
		t.Helper()
		r := berth(t, root, nil, append([]string{"save"}, args...)...)
		if r.code != 0 {
			t.Fatalf("save %q: exit %d: %s", args, r.code, r.stderr)
		}
		dst := t.TempDir()
		l := berth(t, dst, strings.NewReader(r.stdout), "image", "load")
		if l.code != 0 {
			t.Fatalf("load: exit %d: %s", l.code, l.stderr)
		}
		return l.stdout, dst
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"tag", []string{"cli:1"}, "Loaded image: cli:1\n"},
		{"repository-all-tags", []string{"cli"}, "Loaded image: cli:1\nLoaded image: cli:2\n"},
		{"by-id", []string{recA.ID.Hex[:12]}, "Loaded image ID: " + recA.ID.String() + "\n"},
		{"digest", []string{"cli@" + recA.Digest.String()}, "Loaded image: cli@" + recA.Digest.String() + "\n"},
		{"multi-platform", []string{"multi"}, "Loaded image: multi:latest\n"},
		{"platform", []string{"--platform", "linux/arm64", "multi:latest"}, "Loaded image: multi:latest\n"},
		{"oci", []string{"--format", "oci", "cli:1", "multi"}, "Loaded image: cli:1\nLoaded image: multi:latest\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, dst := saveLoad(t, tc.args...)
			if out != tc.want {
				t.Errorf("load printed %q, want %q", out, tc.want)
			}
			switch tc.name {
			case "multi-platform":
				if got := lookup(t, dst, "multi:latest"); got.Digest != recIdx.Digest {
					t.Errorf("loaded %s, want the index %s", got.Digest, recIdx.Digest)
				}
			case "platform":
				if got := lookup(t, dst, "multi:latest"); got.Digest != armDigest {
					t.Errorf("loaded %s, want the arm64 manifest %s", got.Digest, armDigest)
				}
			}
		})
	}

	t.Run("quiet-and-compressed-file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "x.tar")
		berthOK(t, root, "image", "save", "-o", file, "cli:1")
		gz := file + ".gz"
		cmd := exec.Command("sh", "-c", "gzip -c "+file+" > "+gz)
		must(t, cmd.Run())
		if out := berthOK(t, t.TempDir(), "load", "-q", "-i", gz); out != "Loaded image: cli:1\n" {
			t.Errorf("load -q printed %q", out)
		}
	})

	errs := []struct {
		name string
		args []string
		in   string
		code int
		want string
	}{
		{"save-missing", []string{"save", "-o", filepath.Join(t.TempDir(), "x"), "nope:1"}, "", 1, "no such image: nope:1"},
		{"save-no-args", []string{"save"}, "", 1, "requires"},
		{"save-bad-format", []string{"save", "--format", "zip", "cli:1"}, "", 125, "--format"},
		{"save-bad-platform", []string{"save", "--platform", "/amd64", "cli:1"}, "", 125, "platform"},
		{"save-wrong-platform", []string{"save", "-o", filepath.Join(t.TempDir(), "x"), "--platform", "linux/s390x", "multi"}, "", 1, "does not provide the specified platform (linux/s390x)"},
		{"load-args", []string{"load", "x"}, "", 1, "accepts no arguments"},
		{"load-garbage", []string{"load"}, "garbage", 1, "not an image archive"},
		{"load-missing-file", []string{"load", "-i", "/nonexistent.tar"}, "", 1, "no such file"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			r := berth(t, root, strings.NewReader(tc.in), tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || !strings.HasPrefix(r.stderr, "berth: error: ") {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
	t.Run("tag-moves", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "a.tar")
		berthOK(t, root, "save", "-o", file, "cli:1")
		dst := t.TempDir()
		old := seed(t, dst, testImage(t, "older", "linux/amd64"), "docker.io/library/cli:1")
		want := "The image cli:1 already exists, renaming the old one with ID " + old.ID.String() + " to empty string\nLoaded image: cli:1\n"
		if out := berthOK(t, dst, "load", "-i", file); out != want {
			t.Errorf("load printed %q, want %q", out, want)
		}
		if out := berthOK(t, dst, "load", "-i", file); out != "Loaded image: cli:1\n" {
			t.Errorf("second load printed %q", out)
		}
	})
	t.Run("failed-save-leaves-no-file", func(t *testing.T) {
		d := t.TempDir()
		berth(t, root, nil, "save", "-o", filepath.Join(d, "x.tar"), "cli:1", "nope:1")
		entries, _ := os.ReadDir(d)
		if len(entries) != 0 {
			t.Errorf("failed save left %v", entries)
		}
	})
}

// storeState lists what a load may change: blobs, temp files, references.
func storeState(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []string{"blobs/sha256", "tmp"} {
		entries, _ := os.ReadDir(filepath.Join(root, dir))
		for _, e := range entries {
			fmt.Fprintf(&b, "%s/%s\n", dir, e.Name())
		}
	}
	idx, _ := os.ReadFile(filepath.Join(root, "index.json"))
	b.Write(idx)
	return b.String()
}

// TestLoadRefusesHostileArchives: through the command, a bad archive exits
// 1 with one error line naming the entry, and the store is as it was.
func TestLoadRefusesHostileArchives(t *testing.T) {
	img := testImage(t, "hostile", "linux/amd64")
	src := t.TempDir()
	seed(t, src, img, "example.com/hostile:1")
	good := filepath.Join(t.TempDir(), "good.tar")
	berthOK(t, src, "save", "-o", good, "example.com/hostile:1")
	data, err := os.ReadFile(good)
	must(t, err)
	layers, err := img.Layers()
	must(t, err)
	rc, err := layers[1].Compressed()
	must(t, err)
	layerBytes, err := io.ReadAll(rc)
	must(t, err)
	layerDigest, err := layers[1].Digest()
	must(t, err)

	withEntry := func(h *tar.Header, body []byte) []byte {
		// good's entries, then h (its end-of-archive blocks dropped).
		var buf bytes.Buffer
		buf.Write(data[:len(data)-1024])
		tw := tar.NewWriter(&buf)
		h.Size = int64(len(body))
		must(t, tw.WriteHeader(h))
		tw.Write(body)
		must(t, tw.Close())
		return buf.Bytes()
	}
	flipped := bytes.Clone(data)
	i := bytes.Index(flipped, layerBytes)
	flipped[i+len(layerBytes)/2] ^= 0xff
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"traversal", withEntry(&tar.Header{Typeflag: tar.TypeReg, Name: "../../etc/cron.d/x", Mode: 0o644}, []byte("x")), `"../../etc/cron.d/x"`},
		{"escaping-link", withEntry(&tar.Header{Typeflag: tar.TypeSymlink, Name: "blobs/x", Linkname: "../../../etc/shadow"}, nil), `"blobs/x"`},
		{"wrong-digest", flipped, layerDigest.Hex},
		{"truncated", data[:i+len(layerBytes)/2], "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			seed(t, root, testImage(t, "already-here", "linux/amd64"), "example.com/before:1")
			before := storeState(t, root)
			r := berth(t, root, bytes.NewReader(tc.data), "load")
			if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line naming %s", r.code, r.stderr, tc.want)
			}
			if after := storeState(t, root); after != before {
				t.Errorf("store changed:\n%s\n---\n%s", before, after)
			}
		})
	}
}
