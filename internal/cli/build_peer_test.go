package cli_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// TestBuildMatchesBuildah builds real-world patterns (multi-stage, COPY
// into WORKDIR, globs, --from, ADD of an archive, symlinked sources,
// --chown) with berth and with buildah bud, and compares the resulting
// root filesystems file by file: type, mode, owner, link target, content.
func TestBuildMatchesBuildah(t *testing.T) {
	buildah := testenv.Peer(t, "buildah")
	if os.Geteuid() != 0 {
		t.Skip("buildah comparison runs as root")
	}
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{
		"src/main.go":      "package main\n",
		"src/sub/x.go":     "x\n",
		"package.json":     `{"name":"a"}`,
		"requirements.txt": "req\n",
		"notes.txt":        "n\n",
		"static/s.css":     "s\n",
		"Dockerfile": `FROM busybox AS build
WORKDIR /app
COPY package.json ./
RUN mkdir -p node_modules/x && echo m > node_modules/x/index.js
COPY . .
RUN mkdir -p /lib/deep && echo d > /lib/deep/d.txt
RUN mkdir -p /out/bin && cp src/main.go /out/bin/server && chmod 755 /out/bin/server && ln -s server /out/bin/alias && ln /out/bin/server /out/bin/hard

FROM busybox
WORKDIR /srv
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build /app/node_modules ./node_modules
COPY *.txt /reqs/
COPY requirements.txt .
ADD archive.tar.gz /opt/
COPY static /static
COPY src/link.go /links/
RUN mkdir -p /var/empty && touch /var/empty/.keep && rm -rf /etc/group
COPY notes.txt /lib/
COPY --from=build /lib /fromlib
COPY --from=build /lib/deep/d.txt /fromlibfile
WORKDIR /lib/app
COPY notes.txt sub/
USER 1000
COPY --chown=1000:1000 src/sub/ /home/u/
`,
	})
	if err := os.Symlink("main.go", filepath.Join(dir, "src/link.go")); err != nil {
		t.Fatal(err)
	}
	archDir := t.TempDir()
	write(t, filepath.Join(archDir, "pkg/file"), "inner\n", 0o640)
	if out, err := exec.Command("tar", "-C", archDir, "-czf", filepath.Join(dir, "archive.tar.gz"), "pkg").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}

	berthOut := filepath.Join(t.TempDir(), "rootfs")
	if _, se, code := e.run(dir, nil, "build", "-q", "--output", "type=local,dest="+berthOut, "."); code != 0 {
		t.Fatalf("berth build: %s", se)
	}

	bh := t.TempDir()
	bhArgs := []string{"--root", filepath.Join(bh, "root"), "--runroot", filepath.Join(bh, "run"), "--storage-driver", "vfs"}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(buildah, append(bhArgs, args...)...).Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("buildah %v: %v\n%s", args, err, stderr)
		}
		return strings.TrimSpace(string(out))
	}
	t.Cleanup(func() {
		exec.Command(buildah, append(bhArgs, "rm", "--all")...).Run()
		exec.Command(buildah, append(bhArgs, "rmi", "--all", "--force")...).Run()
	})
	c := run("from", "scratch")
	run("add", c, e.baseTar, "/")
	run("commit", "-q", c, "busybox:latest")
	run("rm", c)
	run("bud", "--isolation", "chroot", "-q", "-t", "cmp:1", dir)
	c = run("from", "cmp:1")
	mnt := run("mount", c)
	defer run("umount", c)

	// Mount points buildah leaves in every image; not part of the build.
	skip := map[string]bool{".": true, "dev": true, "proc": true, "sys": true, "run": true,
		"etc/hostname": true, "etc/hosts": true, "etc/resolv.conf": true}
	want, got := listTree(t, mnt, skip), listTree(t, berthOut, skip)
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: only in buildah's image (%s)", p, w)
		} else if g != w {
			t.Errorf("%s: berth %s, buildah %s", p, g, w)
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: only in berth's image (%s)", p, g)
		}
	}
}

func listTree(t *testing.T, root string, skip map[string]bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if skip[rel] {
			if d.IsDir() && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d", fi.Mode()&^fs.ModeDir|fi.Mode()&fs.ModeDir, st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			sum := sha256.Sum256(data)
			desc += " " + hex.EncodeToString(sum[:8])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return out
}
