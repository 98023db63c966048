package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/sandbox"
	"github.com/berth-dev/berth/internal/testenv"
)

// TestSandboxExec runs RUN steps through the built berth binary, which
// exercises the re-exec hook at the top of cmd/berth's main.
func TestSandboxExec(t *testing.T) {
	berth := testenv.Berth(t)
	bb, err := os.ReadFile(testenv.BusyboxStatic(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	tw.Close()
	if err := os.WriteFile(base, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, script string
		code         int
		wantLayer    []string
	}{
		{"success", "echo hi > /f; echo out", 0, []string{"f"}},
		{"exit code", "echo failing >&2; exit 7", 7, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "layer.tar")
			cmd := exec.Command(berth, "sandbox-exec", "--base", base, "--layer", out, "--", "/bin/sh", "-c", tc.script)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, stderr.String())
			}
			if tc.code != 0 {
				if !strings.Contains(stderr.String(), "failing") {
					t.Errorf("command stderr not shown: %q", stderr.String())
				}
				return
			}
			if stdout.String() != "out\n" {
				t.Errorf("stdout %q", stdout.String())
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var names []string
			tr := tar.NewReader(f)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, h.Name)
			}
			if strings.Join(names, " ") != strings.Join(tc.wantLayer, " ") {
				t.Errorf("layer %v, want %v", names, tc.wantLayer)
			}
		})
	}
}

// TestSandboxExecInterrupted interrupts berth mid-step: Ctrl-C (SIGINT) must
// clean up everything and exit 130; after SIGKILL the kernel ends the step's
// processes and mounts, and sandbox.Sweep removes the state dir left behind.
func TestSandboxExecInterrupted(t *testing.T) {
	berth := testenv.Berth(t)
	bb := testenv.BusyboxStatic(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.tar")
	writeBusyboxTar(t, bb, base)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			mark := fmt.Sprintf("BERTH_INTERRUPT_MARK=%d", time.Now().UnixNano())
			cmd := exec.Command(berth, "sandbox-exec", "--base", base, "-e", mark, "--", "/bin/sh", "-c", "echo started; sleep 1000 & sleep 1000")
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8)
			if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "started\n" {
				t.Fatalf("step did not start: %q %v", buf, err)
			}
			cmd.Process.Signal(sig)
			err = cmd.Wait()
			var ee *exec.ExitError
			if sig == syscall.SIGINT && (!errors.As(err, &ee) || ee.ExitCode() != 130) {
				t.Errorf("after SIGINT: %v, want exit status 130", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				procs := sandboxProcs(tmp, mark)
				mounts := mountsUnder(t, tmp)
				if len(procs) == 0 && mounts == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("left behind: processes %v, %d mounts", procs, mounts)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if sig == syscall.SIGKILL {
				if err := sandbox.Sweep(context.Background(), filepath.Join(tmp, "berth-snapshots-never")); err == nil {
					t.Errorf("Sweep of a missing dir succeeded")
				}
				if err := sandbox.Sweep(context.Background(), tmp); err != nil {
					t.Fatal(err)
				}
			}
			ents, _ := os.ReadDir(tmp)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), "berth-run-") {
					t.Errorf("state dir left: %s", e.Name())
				}
			}
		})
	}
}

func writeBusyboxTar(t *testing.T, bb, dst string) {
	t.Helper()
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	for _, a := range []string{"sh", "sleep", "echo"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	tw.Close()
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sandboxProcs lists live processes of steps using tmp or carrying mark.
func sandboxProcs(tmp, mark string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if bytes.Contains(cmdline, []byte(tmp)) || bytes.Contains(environ, []byte(mark)) {
			out = append(out, e.Name()+":"+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

func mountsUnder(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), dir)
}

// TestSandboxExecRootless runs the built berth binary as an unprivileged
// user (created here, with subordinate ids) — the rootless path through the
// re-exec hook in main: user namespace, newuidmap, overlay with userxattr.
func TestSandboxExecRootless(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create the unprivileged user")
	}
	useradd := testenv.Peer(t, "useradd")
	testenv.Peer(t, "newuidmap")
	berth := testenv.Berth(t)
	const name = "berth-cli-rootless"
	if _, err := exec.Command("id", name).Output(); err != nil {
		if out, err := exec.Command(useradd, "-M", "-s", "/bin/false", "-K", "SUB_UID_COUNT=65536", "-K", "SUB_GID_COUNT=65536", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v\n%s", err, out)
		}
	}
	var uid, gid int
	if out, err := exec.Command("id", "-u", name).Output(); err == nil {
		fmt.Sscan(string(out), &uid)
	}
	if out, err := exec.Command("id", "-g", name).Output(); err == nil {
		fmt.Sscan(string(out), &gid)
	}
	if uid == 0 {
		t.Fatal("could not resolve the test user")
	}
	dir, err := os.MkdirTemp("/tmp", "berth-cli-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "berth")
	data, err := os.ReadFile(berth)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.tar")
	writeBusyboxTar(t, testenv.BusyboxStatic(t), base)
	os.Chmod(base, 0o644)
	work := filepath.Join(dir, "work")
	os.Mkdir(work, 0o700)
	os.Chown(work, uid, gid)
	layer := filepath.Join(work, "layer.tar")
	cmd := exec.Command(bin, "sandbox-exec", "--base", base, "--layer", layer, "--", "/bin/sh", "-c", "echo hi > /f; mkdir /o; echo x > /o/x; chown -R 1000:1000 /o")
	cmd.Env = []string{"TMPDIR=" + work, "HOME=" + work, "PATH=/usr/bin:/bin:/usr/sbin:/sbin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rootless berth sandbox-exec: %v\n%s", err, out)
	}
	f, err := os.Open(layer)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]int{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h.Uid
	}
	want := map[string]int{"f": 0, "o/": 1000, "o/x": 1000}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("layer owners %v, want %v (as the image sees them)", got, want)
	}
	ents, _ := os.ReadDir(work)
	for _, e := range ents {
		if e.Name() != "layer.tar" {
			t.Errorf("left in TMPDIR: %s", e.Name())
		}
	}
}
