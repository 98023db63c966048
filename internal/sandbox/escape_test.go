package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEscape tries to reach the host from inside RUN and from a hostile
// image, and checks the isolation the issue requires.
func TestEscape(t *testing.T) {
	hostDir := t.TempDir()
	os.Chmod(hostDir, 0o755)
	marker := fmt.Sprintf("host-only-%d", os.Getpid())
	hostFile := filepath.Join(hostDir, "hostfile")
	if err := os.WriteFile(hostFile, []byte(marker), 0o644); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(hostDir, "victim")
	if err := os.WriteFile(victim, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A second layer whose /etc/hosts and /evil point at the host.
	evil := makeTar(t, []tarEntry{
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/hosts", typ: tar.TypeSymlink, link: "../../../../../../.." + victim},
		{name: "evil", typ: tar.TypeSymlink, link: hostDir},
	})
	lowers := baseLowers(t)
	st := testSnapshots(t)
	dir, err := st.Unpack(context.Background(), digestOf(evil), bytes.NewReader(evil))
	if err != nil {
		t.Fatal(err)
	}
	lowers = append(lowers, dir)

	tests := []struct {
		name, script string
		mounts       []Mount
		wantOut      string // must appear
	}{
		{name: "proc self root", script: "cat /proc/self/root" + hostFile + "; cat /proc/1/root" + hostFile + "; ls /proc/1/root" + hostDir},
		{name: "dot dot", script: "cd /; cat ../../../../.." + hostFile + "; cd /proc/self/cwd/../../..; cat ." + hostFile},
		{name: "chroot climb", script: "mkdir -p /j; cd /j; chroot . /bin/true 2>/dev/null; cd ../../../..; cat ." + hostFile},
		{name: "symlink out", script: "cat /evil/hostfile; cat /etc/hosts"},
		{name: "mount", script: "mount -t tmpfs x /tmp && echo MOUNTED; mount -o remount,rw /proc/sys && echo REMOUNTED; umount /etc/resolv.conf && echo UNMOUNTED; echo done", wantOut: "done"},
		{name: "read-only kernel knobs", script: "echo 1 > /proc/sys/vm/drop_caches && echo WROTE-PROC; echo x > /sys/kernel/uevent_helper && echo WROTE-SYS; echo done", wantOut: "done"},
		{name: "mount through image symlink", script: "echo inside > /evil/x/f; echo done", mounts: []Mount{{Type: MountTmpfs, Target: "/evil/x"}}, wantOut: "done"},
	}
	if !rootless() {
		tests = append(tests, struct {
			name, script string
			mounts       []Mount
			wantOut      string
		}{name: "bounded capabilities", script: "grep CapBnd /proc/self/status", wantOut: "00000000a80425fb"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, layer, err := runScript(t, Spec{Lowers: lowers, Mounts: tc.mounts}, tc.script+"; true")
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			for _, bad := range []string{marker, "MOUNTED", "REMOUNTED", "UNMOUNTED", "WROTE-PROC", "WROTE-SYS"} {
				if strings.Contains(out, bad) {
					t.Errorf("escaped: output contains %q:\n%s", bad, out)
				}
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out)
			}
			if bytes.Contains(layer, []byte(marker)) {
				t.Errorf("host file content in layer")
			}
			if b, _ := os.ReadFile(victim); string(b) != "untouched" {
				t.Errorf("host file changed: %q", b)
			}
			ents, _ := os.ReadDir(hostDir)
			if len(ents) != 2 {
				t.Errorf("host dir gained entries: %v", ents)
			}
		})
	}
}

// TestHostileMountPoints: links in the image at a mount point's path
// (RUN --mount targets, /proc, /dev) resolve inside the root: no mount
// and no mount point lands on the host, and /proc is still proc.
func TestHostileMountPoints(t *testing.T) {
	hostDir := t.TempDir()
	os.Chmod(hostDir, 0o755)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cr3t"), 0o600)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	for _, tc := range []struct {
		name   string
		links  []tarEntry
		mounts []Mount
		script string
		want   string // in the output
		err    string // instead, Run's error
	}{
		{name: "proc is a link to a host directory", links: []tarEntry{{name: "proc", typ: tar.TypeSymlink, link: hostDir}},
			script: "grep -c ^Name: /proc/self/status", want: "1"},
		{name: "proc is a link to /", links: []tarEntry{{name: "proc", typ: tar.TypeSymlink, link: "/"}}, err: "resolves to the root itself"},
		{name: "dev is a relative link out", links: []tarEntry{{name: "dev", typ: tar.TypeSymlink, link: "../../../../../../../.." + hostDir}},
			script: "echo x > /dev/null && echo ok", want: "ok"},
		{name: "mount targets through a link", links: []tarEntry{{name: "mnt", typ: tar.TypeSymlink, link: hostDir}},
			mounts: []Mount{
				{Type: MountBind, Source: filepath.Dir(secret), Target: "/mnt/bind"},
				{Type: MountCache, Source: cacheDir, Target: "/mnt/cache"},
				{Type: MountSecret, Source: secret, Target: "/mnt/secret"},
				{Type: MountTmpfs, Target: "/mnt/tmp"},
			},
			script: "cat /mnt/secret /mnt/bind/secret && touch /mnt/cache/c /mnt/tmp/t && echo ok", want: "s3cr3ts3cr3tok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layer := makeTar(t, tc.links)
			st := testSnapshots(t)
			dir, err := st.Unpack(context.Background(), digestOf(layer), bytes.NewReader(layer))
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := runScript(t, Spec{Lowers: append(baseLowers(t), dir), Mounts: tc.mounts}, tc.script)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q\n%s", err, tc.err, out)
				}
			} else if err != nil || !strings.Contains(strings.ReplaceAll(out, "\n", ""), tc.want) {
				t.Fatalf("run: %v, output %q, want %q", err, out, tc.want)
			}
			if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
				t.Fatalf("a mount point was made in the host directory: %v", ents)
			}
		})
	}
}
