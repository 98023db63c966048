package sandbox

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/testenv"
)

// rootlessTests are the tests re-run as an unprivileged user.
const rootlessTests = "^(TestRunChanges|TestRunExitStatus|TestRunIdentity|TestRunMounts|TestRunBindFromStage|TestRunNetwork|TestEscape|TestHostileMountPoints|TestSeccomp|TestLeaks)$"

// TestRootless runs the sandbox tests again as unprivileged users created
// for the purpose: one with /etc/subuid ranges (newuidmap) and one without
// (a single id mapping). CI runs as root, so this is where rootless is
// covered there; run as a normal user, the other tests are rootless already.
func TestRootless(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("already running rootless: the other tests cover it")
	}
	testenv.BusyboxStatic(t)
	useradd := testenv.Peer(t, "useradd")
	testenv.Peer(t, "newuidmap")
	bin := copyTestBinary(t)
	users := []struct {
		name  string
		flags []string
		subID bool
		tests string
	}{
		{"berth-sbx-sub", []string{"-K", "SUB_UID_COUNT=65536", "-K", "SUB_GID_COUNT=65536"}, true, rootlessTests},
		// The single mapping differs only in how the namespace is made:
		// a smaller set keeps the suite fast.
		{"berth-sbx-one", []string{"-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"}, false, "^(TestRunChanges|TestRunExitStatus|TestRunMounts|TestEscape|TestSeccomp|TestLeaks)$"},
	}
	for _, u := range users {
		t.Run(u.name, func(t *testing.T) {
			uid, gid := ensureUser(t, useradd, u.name, u.flags)
			if _, ok := subIDRange("/etc/subuid", u.name, uid); ok != u.subID {
				t.Skipf("%s: /etc/subuid entry present=%v, want %v (user pre-existed with other settings)", u.name, ok, u.subID)
			}
			tmp, err := os.MkdirTemp(sharedTemp(), "berth-rootless-")
			if err != nil {
				t.Fatal(err)
			}
			defer fsutil.RemoveAll(tmp)
			if err := os.Chown(tmp, uid, gid); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-test.run", u.tests, "-test.count=1", "-test.v")
			cmd.Dir = tmp
			cmd.Env = []string{"TMPDIR=" + tmp, "HOME=" + tmp, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "BERTH_REQUIRE_PEERS=" + os.Getenv("BERTH_REQUIRE_PEERS")}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "\nPASS") {
				t.Fatalf("rootless tests as %s failed: %v\n%s", u.name, err, out)
			}
			if u.subID && strings.Contains(string(out), "--- SKIP") {
				t.Errorf("with subordinate ids nothing should be skipped:\n%s", out)
			}
			t.Logf("rootless as %s: %d tests passed", u.name, strings.Count(string(out), "--- PASS"))
		})
	}
}

// sharedTemp is a temp dir the unprivileged users can reach: $TMPDIR may be
// private to root in CI, /tmp is not.
func sharedTemp() string {
	if fi, err := os.Stat("/tmp"); err == nil && fi.Mode()&os.ModeSticky != 0 && fi.Mode().Perm() == 0o777 {
		return "/tmp"
	}
	return os.TempDir()
}

// ensureUser creates the user when missing and returns its ids.
func ensureUser(t *testing.T, useradd, name string, flags []string) (int, int) {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		args := append([]string{"-M", "-s", "/bin/false"}, flags...)
		args = append(args, name)
		if out, err := exec.Command(useradd, args...).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// copyTestBinary puts this test binary where an unprivileged user can run it.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(sharedTemp(), "berth-testbin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, "sandbox.test")
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(fmt.Errorf("copying test binary: %w", err))
	}
	return dst
}
