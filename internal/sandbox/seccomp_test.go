package sandbox

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSeccomp: RUN is filtered with Docker's default profile (mode 2,
// nested user namespaces and keyring calls refused with EPERM), unless
// unconfined or given another profile in Docker's format.
func TestSeccomp(t *testing.T) {
	lowers := baseLowers(t)
	denyMkdir := []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`)
	for _, tc := range []struct {
		name    string
		seccomp Seccomp
		script  string
		want    []string
	}{
		{"default", Seccomp{}, "grep ^Seccomp: /proc/self/status; unshare -U true || echo unshare refused; mkdir /d && echo mkdir ok",
			[]string{"Seccomp:\t2", "Operation not permitted", "unshare refused", "mkdir ok"}},
		// Docker sets no no_new_privs by default: setuid programs work.
		{"default keeps setuid and chroot", Seccomp{}, "chroot / true && echo chroot ok; grep ^NoNewPrivs: /proc/self/status",
			[]string{"chroot ok", "NoNewPrivs:\t0"}},
		{"unconfined", Seccomp{Unconfined: true}, "grep ^Seccomp: /proc/self/status", []string{"Seccomp:\t0"}},
		{"custom profile", Seccomp{Profile: denyMkdir}, "grep ^Seccomp: /proc/self/status; mkdir /d || echo mkdir refused; echo x > /f && echo write ok",
			[]string{"Seccomp:\t2", "Operation not permitted", "mkdir refused", "write ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runScript(t, Spec{Lowers: lowers, Seccomp: tc.seccomp}, tc.script)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	_, _, err := runScript(t, Spec{Lowers: lowers, Seccomp: Seccomp{Profile: []byte(`{"defaultAction":`)}}, "true")
	if err == nil || !strings.Contains(err.Error(), "seccomp profile") {
		t.Fatalf("a malformed profile: %v", err)
	}
	if err := CheckSeccomp(Seccomp{Profile: []byte(`{"defaultAction":"SCMP_ACT_NOPE"}`)}); err == nil || !strings.Contains(err.Error(), "SCMP_ACT_NOPE") {
		t.Fatalf("CheckSeccomp: %v", err)
	}
}

// TestDefaultCapNames keeps the names the profile's conditions see equal
// to the set the bounding set keeps.
func TestDefaultCapNames(t *testing.T) {
	byName := map[string]int{"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "CAP_FSETID": unix.CAP_FSETID,
		"CAP_FOWNER": unix.CAP_FOWNER, "CAP_MKNOD": unix.CAP_MKNOD, "CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_SETGID": unix.CAP_SETGID,
		"CAP_SETUID": unix.CAP_SETUID, "CAP_SETFCAP": unix.CAP_SETFCAP, "CAP_SETPCAP": unix.CAP_SETPCAP,
		"CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE, "CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_KILL": unix.CAP_KILL,
		"CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE}
	if len(defaultCapNames) != len(defaultCaps) {
		t.Fatalf("%d names for %d capabilities", len(defaultCapNames), len(defaultCaps))
	}
	for _, n := range defaultCapNames {
		if c, ok := byName[n]; !ok || !defaultCaps[c] {
			t.Errorf("%s is not in defaultCaps", n)
		}
	}
}
