package sandbox

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// buildahStubs are the mount points buildah's chroot isolation leaves in its
// layers; BuildKit and berth remove them, so they are not compared.
var buildahStubs = map[string]bool{"dev/": true, "proc/": true, "sys/": true, "etc/hosts": true, "etc/hostname": true, "etc/resolv.conf": true}

// TestLayerMatchesBuildah runs one RUN step with whiteouts, an opaque
// directory, hard links, special files, ownership and modes through berth
// and through `buildah bud --isolation chroot`, and compares the layers
// entry by entry.
func TestLayerMatchesBuildah(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("buildah's chroot isolation as root is the reference")
	}
	buildah := testenv.Peer(t, "buildah")
	bb := testenv.BusyboxStatic(t)
	w := t.TempDir()
	root := filepath.Join(w, "rootfs")
	files := map[string]string{"var/lib/data/a": "a\n", "var/lib/data/b": "b\n", "old": "old\n", "srv/x": "x\n", "srv/y": "y\n", "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n"}
	for p, body := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Link(filepath.Join(root, "srv/x"), filepath.Join(root, "srv/xlink"))
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "tmp"), 0o1777)
	bin, _ := os.ReadFile(bb)
	os.WriteFile(filepath.Join(root, "bin/busybox"), bin, 0o755)
	out, _ := exec.Command(bb, "--list").Output()
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			os.Symlink("busybox", filepath.Join(root, "bin", a))
		}
	}
	script := `set -e; echo new > /newfile; echo mod >> /var/lib/data/a; rm /var/lib/data/b; rm /old; rm -rf /srv && mkdir /srv && echo n > /srv/n; mkdir -p /d1/d2 && echo x > /d1/d2/x; chown 1000:2000 /d1/d2/x; chmod 0750 /d1; chmod 4755 /d1/d2/x; ln /d1/d2/x /d1/hard; ln -s ../newfile /d1/sym; mkfifo /d1/fifo; mkdir -p /run/x; touch /etc/newconf; mkdir /tmp/t; chmod 1777 /tmp/t`

	// berth
	baseTar := filepath.Join(w, "base.tar")
	if out, err := exec.Command(bb, "tar", "-C", root, "-cf", baseTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	base, _ := os.ReadFile(baseTar)
	st := testSnapshots(t)
	lower, err := st.Unpack(context.Background(), digestOf(base), bytes.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	var berthLayer bytes.Buffer
	if err := Run(context.Background(), Spec{Lowers: []string{lower}, Args: []string{"/bin/sh", "-c", script}, TempDir: w}, &berthLayer); err != nil {
		t.Fatal(err)
	}

	// buildah, in a private storage root
	storage := filepath.Join(w, "storage")
	b := func(args ...string) string {
		t.Helper()
		full := append([]string{"--root", storage, "--runroot", filepath.Join(w, "runroot"), "--storage-driver", "overlay"}, args...)
		out, err := exec.Command(buildah, full...).CombinedOutput()
		if err != nil {
			t.Fatalf("buildah %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// With the overlay driver (the default, and the one that records
	// opaque directories as berth does) buildah leaves mounts to undo.
	t.Cleanup(func() {
		g := []string{"--root", storage, "--runroot", filepath.Join(w, "runroot"), "--storage-driver", "overlay"}
		exec.Command(buildah, append(g, "rm", "-a")...).Run()
		exec.Command(buildah, append(g, "rmi", "-a", "-f")...).Run()
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		var mounts []string
		for _, line := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], w) {
				mounts = append(mounts, f[4])
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
		for _, m := range mounts {
			exec.Command("umount", "-l", m).Run()
		}
	})
	ctr := b("from", "scratch")
	b("copy", ctr, root, "/")
	b("commit", "-q", ctr, "berth-test-base")
	b("rm", ctr)
	ctx := filepath.Join(w, "ctx")
	os.Mkdir(ctx, 0o755)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM berth-test-base\nRUN "+script+"\n"), 0o644)
	b("bud", "--isolation", "chroot", "--layers=false", "-q", "-t", "berth-test-out", ctx)
	oci := filepath.Join(w, "oci")
	b("push", "-q", "berth-test-out", "oci:"+oci)
	buildahLayer := lastLayer(t, oci)

	ours, theirs := layerSummary(t, berthLayer.Bytes()), layerSummary(t, buildahLayer)
	for name := range theirs {
		if buildahStubs[name] {
			delete(theirs, name)
		}
	}
	if len(theirs) > 0 && theirs["etc/"] != "" && ours["etc/"] == "" {
		delete(theirs, "etc/") // only there for its stubs
	}
	var diffs []string
	for _, n := range union(ours, theirs) {
		if ours[n] != theirs[n] {
			diffs = append(diffs, fmt.Sprintf("%s\n    berth:   %s\n    buildah: %s", n, ours[n], theirs[n]))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("layers differ:\n%s", strings.Join(diffs, "\n"))
	}
}

// layerSummary describes each entry by what the image sees: type, mode,
// owner, link and content (not times).
func layerSummary(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeDir && !strings.HasSuffix(name, "/") {
			name += "/"
		}
		sum := sha256.New()
		io.Copy(sum, tr)
		mode, link := h.Mode&0o7777, h.Linkname
		if strings.Contains(name, ".wh.") {
			// Markers carry no meaningful mode, and buildah 1.28 leaks a
			// previous entry's link name into some of them.
			mode, link = 0, ""
		}
		out[name] = fmt.Sprintf("type=%c mode=%o uid=%d gid=%d link=%q sha=%x", h.Typeflag, mode, h.Uid, h.Gid, link, sum.Sum(nil)[:6])
	}
}

func union(a, b map[string]string) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// lastLayer returns the uncompressed top layer of the image in an OCI layout.
func lastLayer(t *testing.T, dir string) []byte {
	t.Helper()
	var idx struct{ Manifests []struct{ Digest string } }
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	var m struct{ Layers []struct{ Digest string } }
	readJSON(t, blobPath(dir, idx.Manifests[0].Digest), &m)
	f, err := os.Open(blobPath(dir, m.Layers[len(m.Layers)-1].Digest))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func blobPath(dir, digest string) string {
	return filepath.Join(dir, "blobs", strings.Replace(digest, ":", "/", 1))
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
