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
