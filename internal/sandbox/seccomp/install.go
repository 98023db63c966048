package seccomp

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install loads p as a filter of the calling thread (not the process: the
// caller locks its OS thread and starts the command from it, which
// inherits the filter). Without CAP_SYS_ADMIN the kernel asks for
// no_new_privs first; Install sets it only then, since it also stops
// setuid programs in the step (Docker does not set it by default).
func Install(p *Program) error {
	if len(p.Instructions) == 0 || len(p.Instructions) > bpfMaxInstructions {
		return fmt.Errorf("seccomp: a program of %d instructions", len(p.Instructions))
	}
	filter := make([]unix.SockFilter, len(p.Instructions))
	for i, in := range p.Instructions {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	load := func() error {
		_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(p.Flags), uintptr(unsafe.Pointer(&prog)))
		if errno != 0 {
			return errno
		}
		return nil
	}
	err := load()
	if errors.Is(err, unix.EACCES) {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("seccomp: setting no_new_privs: %w", err)
		}
		err = load()
	}
	if err != nil {
		return fmt.Errorf("seccomp: installing the filter: %w", err)
	}
	return nil
}
