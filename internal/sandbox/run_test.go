package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func rootless() bool { return os.Geteuid() != 0 }

// run is a test shorthand: it runs script under /bin/sh -c and returns the
// combined output and the layer.
func runScript(t *testing.T, spec Spec, script string) (string, []byte, error) {
	t.Helper()
	var out, layer bytes.Buffer
	spec.Args = []string{"/bin/sh", "-c", script}
	spec.Stdout, spec.Stderr = &out, &out
	if spec.TempDir == "" {
		spec.TempDir = t.TempDir()
	}
	err := Run(context.Background(), spec, &layer)
	return out.String(), layer.Bytes(), err
}

const changeScript = `set -e
echo new > /newfile
echo mod >> /var/lib/data/a
rm /var/lib/data/b
rm /old
rm -rf /srv && mkdir /srv && echo n > /srv/n
mkdir -p /d1/d2 && echo x > /d1/d2/x
if [ -n "$CHOWN" ]; then chown 1000:2000 /d1/d2/x; fi
if [ -n "$MKNOD" ]; then mknod /d1/null c 1 3; fi
chmod 0750 /d1
chmod 4755 /d1/d2/x
ln /d1/d2/x /d1/hard
ln -s ../newfile /d1/sym
mkfifo /d1/fifo
`

// TestRunChanges checks the layer of a step that creates, modifies and
// deletes files and directories, in overlay and copy-fallback modes, and
// that both modes give the same layer.
func TestRunChanges(t *testing.T) {
	lowers := baseLowers(t)
	canChown := !rootless() || subIDs()
	var env []string
	if canChown {
		env = append(env, "CHOWN=1")
	}
	if !rootless() {
		env = append(env, "MKNOD=1") // device nodes need real root
	}
	layers := map[bool]map[string]layerEntry{}
	for _, copyMode := range []bool{false, true} {
		name := map[bool]string{false: "overlay", true: "copy"}[copyMode]
		t.Run(name, func(t *testing.T) {
			out, layer, err := runScript(t, Spec{Lowers: lowers, Env: env, forceCopy: copyMode}, changeScript)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			m, order := readLayer(t, layer)
			layers[copyMode] = m
			want := []string{
				"d1/", "d1/d2/", "d1/d2/x", "d1/fifo", "d1/hard", "d1/sym",
				"newfile", ".wh.old", "srv/", "srv/.wh..wh..opq", "srv/n",
				"var/", "var/lib/", "var/lib/data/", "var/lib/data/a", "var/lib/data/.wh.b",
			}
			if !rootless() {
				want = append(want[:5], append([]string{"d1/null"}, want[5:]...)...)
			}
			if strings.Join(order, " ") != strings.Join(want, " ") {
				t.Fatalf("layer entries\n got %v\nwant %v", order, want)
			}
			checks := []struct {
				name string
				ok   bool
			}{
				{"modified file has new content", m["var/lib/data/a"].body == "a\nmod\n"},
				{"chmod dir", m["d1/"].hdr.Mode == 0o750},
				{"setuid kept", m["d1/d2/x"].hdr.Mode == 0o4755},
				{"hard link", m["d1/hard"].hdr.Typeflag == tar.TypeLink && m["d1/hard"].hdr.Linkname == "d1/d2/x"},
				{"symlink", m["d1/sym"].hdr.Typeflag == tar.TypeSymlink && m["d1/sym"].hdr.Linkname == "../newfile"},
				{"fifo", m["d1/fifo"].hdr.Typeflag == tar.TypeFifo},
				{"whiteout is empty regular file", m[".wh.old"].hdr.Typeflag == tar.TypeReg && m[".wh.old"].hdr.Size == 0},
			}
			if canChown {
				checks = append(checks, struct {
					name string
					ok   bool
				}{"chown", m["d1/d2/x"].hdr.Uid == 1000 && m["d1/d2/x"].hdr.Gid == 2000 && m["newfile"].hdr.Uid == 0})
			}
			if !rootless() {
				checks = append(checks, struct {
					name string
					ok   bool
				}{"device", m["d1/null"].hdr.Typeflag == tar.TypeChar && m["d1/null"].hdr.Devmajor == 1 && m["d1/null"].hdr.Devminor == 3})
			} else if !canChown {
				checks = append(checks, struct {
					name string
					ok   bool
				}{"root-owned as the image sees it", m["d1/d2/x"].hdr.Uid == 0 && m["newfile"].hdr.Uid == 0})
			}
			for _, c := range checks {
				if !c.ok {
					t.Errorf("%s: layer %v", c.name, order)
				}
			}
		})
	}
	t.Run("same layer both ways", func(t *testing.T) {
		a, b := layers[false], layers[true]
		if a == nil || b == nil {
			t.Skip("a mode failed")
		}
		for name, ea := range a {
			eb, ok := b[name]
			if !ok {
				t.Errorf("%s missing from copy layer", name)
				continue
			}
			ha, hb := ea.hdr, eb.hdr
			if ha.Typeflag != hb.Typeflag || ha.Mode != hb.Mode || ha.Uid != hb.Uid || ha.Gid != hb.Gid || ha.Linkname != hb.Linkname || ea.body != eb.body {
				t.Errorf("%s differs: overlay %+v copy %+v", name, ha, hb)
			}
		}
	})
}

func TestRunExitStatus(t *testing.T) {
	lowers := baseLowers(t)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"exit 42", []string{"/bin/sh", "-c", "echo failing >&2; exit 42"}, 42},
		{"false", []string{"false"}, 1},
		{"killed", []string{"/bin/sh", "-c", "kill -9 $$"}, 137},
		{"not found", []string{"no-such-command"}, 127},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, layer bytes.Buffer
			err := Run(context.Background(), Spec{Lowers: lowers, Args: tc.args, Stdout: &out, Stderr: &out, TempDir: t.TempDir()}, &layer)
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != tc.code {
				t.Fatalf("err = %v, want exit code %d; output %q", err, tc.code, out.String())
			}
			if layer.Len() != 0 {
				t.Errorf("a failed step wrote %d layer bytes", layer.Len())
			}
		})
	}
}

func TestRunIdentity(t *testing.T) {
	lowers := baseLowers(t)
	tests := []struct {
		name, user, dir, want string
		script                string
		env                   []string
		wantErr               string
	}{
		{name: "root default", want: "0 0 / /root berth"},
		{name: "named user", user: "app", dir: "/work/app", want: "1000 1000 /work/app /home/app berth"},
		{name: "uid:gid", user: "1234:5678", want: "1234 5678 / / berth"},
		{name: "user:group name", user: "app:extra", want: "1000 2000 / /home/app berth"},
		{name: "env and home", user: "app", env: []string{"HOME=/h"}, want: "1000 1000 / /h berth"},
		{name: "unknown user", user: "nobody", wantErr: "unable to find user nobody"},
		{name: "base image ownership", user: "app", want: "1000 1000 / /home/app berth 1000 export", script: `echo $(id -u) $(id -g) $(pwd) $HOME $(hostname) $(stat -c %u /home/app) $(cat /home/app/.profile | cut -c1-6); touch /home/app/new`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if rootless() && !subIDs() && tc.wantErr == "" && tc.user != "" {
				// One mapped id: setuid to another fails, as in rootless buildah without subuids.
				t.Skip("rootless with a single id mapping cannot switch users")
			}
			script := tc.script
			if script == "" {
				script = `echo $(id -u) $(id -g) $(pwd) $HOME $(hostname)`
			}
			out, _, err := runScript(t, Spec{Lowers: lowers, User: tc.user, Dir: tc.dir, Env: tc.env}, script)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(out, tc.wantErr) {
					t.Fatalf("err = %v, output %q; want %q", err, out, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			if strings.TrimSpace(out) != tc.want {
				t.Errorf("got %q, want %q", strings.TrimSpace(out), tc.want)
			}
		})
	}
}

func TestRunMounts(t *testing.T) {
	lowers := baseLowers(t)
	cacheDir := filepath.Join(t.TempDir(), "cache", "go-build")
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("s3cr3t-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	bindDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(bindDir, "input"), []byte("from-context"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(bindDir, 0o755)
	mounts := []Mount{
		{Type: MountCache, Source: cacheDir, Target: "/root/.cache", Sharing: "locked"},
		{Type: MountSecret, Source: secret, Target: "/run/secrets/token"},
		{Type: MountBind, Source: bindDir, Target: "/src", ReadOnly: true},
		{Type: MountTmpfs, Target: "/scratch"},
	}
	script := `set -e
echo run >> /root/.cache/runs
cat /root/.cache/runs | wc -l
cat /run/secrets/token > /dev/null
cp /run/secrets/token /scratch/copy
cat /src/input; echo
if echo x > /src/write 2>/dev/null; then echo bind-writable; fi
echo out > /result
`
	for i := 1; i <= 2; i++ {
		out, layer, err := runScript(t, Spec{Lowers: lowers, Mounts: mounts}, script)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
		lines := strings.Fields(out)
		if len(lines) < 2 || lines[0] != string(rune('0'+i)) || lines[1] != "from-context" || strings.Contains(out, "bind-writable") {
			t.Errorf("run %d output %q: want cache count %d, the bind input, no write to a read-only bind", i, out, i)
		}
		m, order := readLayer(t, layer)
		if strings.Join(order, " ") != "result" {
			t.Errorf("run %d: layer %v, want only result (no mount points, cache, secret or tmpfs content)", i, order)
		}
		if bytes.Contains(layer, []byte("s3cr3t-value")) {
			t.Errorf("secret value in layer")
		}
		_ = m
	}
	if b, err := os.ReadFile(filepath.Join(cacheDir, "runs")); err != nil || string(b) != "run\nrun\n" {
		t.Errorf("cache dir on host holds %q, %v", b, err)
	}
}

// subIDs reports whether this (rootless) process gets subordinate ids.
func subIDs() bool { return lookupIDMapper() != nil }

func TestRunNetwork(t *testing.T) {
	lowers := baseLowers(t)
	hostIfaces, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		network string
		want    int // interfaces seen
	}{
		{"none", 1}, // loopback only
		{"host", strings.Count(string(hostIfaces), ":")},
	}
	for _, tc := range tests {
		t.Run(tc.network, func(t *testing.T) {
			out, _, err := runScript(t, Spec{Lowers: lowers, Network: tc.network}, "grep -c : /proc/net/dev")
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			if strings.TrimSpace(out) != fmt.Sprint(tc.want) {
				t.Errorf("%s network: %s interfaces, want %d", tc.network, strings.TrimSpace(out), tc.want)
			}
		})
	}
	if _, _, err := runScript(t, Spec{Lowers: lowers, Network: "bridge"}, "true"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("bridge network accepted: %v", err)
	}
}

// TestRunBindFromStage mounts a path from another stage's layers
// (RUN --mount=type=bind,from=stage,source=…), symlinks resolved inside it.
func TestRunBindFromStage(t *testing.T) {
	lowers := baseLowers(t)
	stageLayer := makeTar(t, []tarEntry{
		{name: "app/", typ: tar.TypeDir, mode: 0o755},
		{name: "app/built", typ: tar.TypeReg, mode: 0o644, body: "artifact"},
		{name: "link", typ: tar.TypeSymlink, link: "../../../app"},
	})
	st := testSnapshots(t)
	dir, err := st.Unpack(context.Background(), digestOf(stageLayer), bytes.NewReader(stageLayer))
	if err != nil {
		t.Fatal(err)
	}
	stage := append(append([]string(nil), lowers...), dir)
	for _, tc := range []struct {
		source   string
		readOnly bool
	}{
		{"/app", true}, {"/link", true}, // the default of RUN --mount=type=bind
		{"/app", false}, {"/link", false}, // rw: writable, and the writes go with the step
	} {
		out, layer, err := runScript(t, Spec{Lowers: lowers, Mounts: []Mount{{Type: MountBind, Lowers: stage, Source: tc.source, Target: "/mnt/stage", ReadOnly: tc.readOnly}}},
			"cat /mnt/stage/built; ls /mnt/stage/../stage/built; touch /mnt/stage/x 2>/dev/null && echo WRITABLE; true")
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
		if !strings.HasPrefix(out, "artifact") || strings.Contains(out, "WRITABLE") != !tc.readOnly {
			t.Errorf("source %s, read-only %v: output %q", tc.source, tc.readOnly, out)
		}
		if _, order := readLayer(t, layer); len(order) != 0 {
			t.Errorf("source %s: layer %v, want empty", tc.source, order)
		}
		if _, err := os.Stat(filepath.Join(dir, "app", "x")); err == nil {
			t.Fatalf("source %s: a write through the bind mount reached the stage's layer", tc.source)
		}
	}
}

// TestCacheSharing: with a step holding a cache mount, a second step
// shares it (shared), waits for it (locked) or gets its own instance
// (private), as BuildKit's sharing modes do.
func TestCacheSharing(t *testing.T) {
	lowers := baseLowers(t)
	for _, tc := range []struct {
		sharing      string
		bWaits       bool   // the second step finishes only after the first
		bSees, aSees string // what each step reads back from the cache
	}{
		{"shared", false, "A", "B"},
		{"locked", true, "A", "A"},
		{"private", false, "none", "A"},
	} {
		t.Run(tc.sharing, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "cache", "c")
			sig := t.TempDir()
			os.Chmod(sig, 0o755)
			mounts := []Mount{
				{Type: MountCache, Source: cache, Target: "/c", Sharing: tc.sharing},
				{Type: MountBind, Source: sig, Target: "/sig", ReadOnly: true},
			}
			type result struct {
				out string
				err error
			}
			aDone, bDone := make(chan result, 1), make(chan result, 1)
			go func() {
				out, _, err := runScript(t, Spec{Lowers: lowers, Mounts: mounts}, "echo A > /c/who; while [ ! -e /sig/go ]; do sleep 0.05; done; cat /c/who")
				aDone <- result{out, err}
			}()
			deadline := time.Now().Add(20 * time.Second)
			for {
				if _, err := os.Stat(filepath.Join(cache, "who")); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the first step never wrote to its cache")
				}
				time.Sleep(20 * time.Millisecond)
			}
			go func() {
				out, _, err := runScript(t, Spec{Lowers: lowers, Mounts: mounts}, "cat /c/who 2>/dev/null || echo none; echo B > /c/who")
				bDone <- result{out, err}
			}()
			var b result
			waited := true
			select {
			case b = <-bDone:
				waited = false
			case <-time.After(3 * time.Second):
			}
			os.WriteFile(filepath.Join(sig, "go"), nil, 0o644)
			a := <-aDone
			if waited {
				b = <-bDone
			}
			if a.err != nil || b.err != nil {
				t.Fatalf("runs: %v %s / %v %s", a.err, a.out, b.err, b.out)
			}
			if waited != tc.bWaits || strings.TrimSpace(b.out) != tc.bSees || strings.TrimSpace(a.out) != tc.aSees {
				t.Fatalf("second step waited %v, read %q; first read %q; want %v, %q, %q", waited, b.out, a.out, tc.bWaits, tc.bSees, tc.aSees)
			}
		})
	}
}

// TestManyLayers: a stage of 200 layers still runs on overlayfs (the
// lowers passed by short links once their names overflow the page of
// mount options), with every layer visible.
func TestManyLayers(t *testing.T) {
	lowers := baseLowers(t)
	parent := t.TempDir()
	for i := 0; i < 200; i++ {
		dir := filepath.Join(parent, fmt.Sprintf("%064x", i), "fs")
		if err := os.MkdirAll(filepath.Join(dir, "layers"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "layers", fmt.Sprint(i)), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		lowers = append(lowers, dir)
	}
	out, _, err := runScript(t, Spec{Lowers: lowers}, "ls /layers | wc -l; cat /layers/0 /layers/199; echo; grep -c ' - overlay ' /proc/self/mountinfo")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if f := strings.Fields(out); len(f) != 3 || f[0] != "200" || f[1] != "0199" || f[2] == "0" {
		t.Fatalf("output %q: want 200 layer files, the bottom and top one, and an overlay root", out)
	}
}

// TestCopyTree: the rw-bind fallback copy keeps files, modes and links.
func TestCopyTree(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "d"), 0o750)
	os.WriteFile(filepath.Join(src, "d", "f"), []byte("data"), 0o640)
	os.Symlink("d/f", filepath.Join(src, "l"))
	dst := filepath.Join(t.TempDir(), "copy")
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "d", "f"))
	fi, _ := os.Stat(filepath.Join(dst, "d", "f"))
	link, _ := os.Readlink(filepath.Join(dst, "l"))
	if err != nil || string(b) != "data" || fi.Mode().Perm() != 0o640 || link != "d/f" {
		t.Fatalf("copy: %q %v %v link %q", b, err, fi.Mode(), link)
	}
}
