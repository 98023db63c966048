package sandbox

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// defaultCaps is the capability set Docker grants a container (moby's
// oci/caps/defaults.go), which RUN steps get too.
var defaultCaps = map[int]bool{
	unix.CAP_CHOWN:            true,
	unix.CAP_DAC_OVERRIDE:     true,
	unix.CAP_FSETID:           true,
	unix.CAP_FOWNER:           true,
	unix.CAP_MKNOD:            true,
	unix.CAP_NET_RAW:          true,
	unix.CAP_SETGID:           true,
	unix.CAP_SETUID:           true,
	unix.CAP_SETFCAP:          true,
	unix.CAP_SETPCAP:          true,
	unix.CAP_NET_BIND_SERVICE: true,
	unix.CAP_SYS_CHROOT:       true,
	unix.CAP_KILL:             true,
	unix.CAP_AUDIT_WRITE:      true,
}

// defaultCapNames are defaultCaps by name, for the seccomp profile's
// capability conditions.
var defaultCapNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// dropBoundingCaps removes every capability outside defaultCaps from the
// calling thread's bounding set. The caller must hold the OS thread locked
// and start the command from it: the bounding set is per thread, and a
// fork inherits the forking thread's. After execve a root process then holds
// exactly the default set.
func dropBoundingCaps() error {
	last := unix.CAP_LAST_CAP
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if defaultCaps[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return err
		}
	}
	return nil
}
