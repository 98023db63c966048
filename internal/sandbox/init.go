package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/internal/sandbox/seccomp"
	"golang.org/x/sys/unix"
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// initMain is the sandbox's PID 1: it finishes the root (proc, pivot_root),
// starts the command with the step's identity and bounded capabilities,
// reaps every orphan, and exits with the command's status. When it exits,
// the kernel kills whatever the command left running.
func initMain() int {
	var is initSpec
	f := os.NewFile(fdSpec, "spec")
	if err := json.NewDecoder(f).Decode(&is); err != nil {
		fmt.Fprintf(os.Stderr, "berth: sandbox: reading spec: %v\n", err)
		return 125
	}
	f.Close()
	pid, err := startCommand(&is)
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth: %v\n", err)
		var ee *ExitError
		if errors.As(err, &ee) {
			return ee.Code
		}
		return 125
	}
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 125
		}
		if got != pid {
			continue // an orphan re-parented to us
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

func startCommand(is *initSpec) (int, error) {
	hostname := is.Hostname
	if hostname == "" {
		hostname = "berth"
	}
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		return 0, fmt.Errorf("setting hostname: %w", err)
	}
	if err := unix.Mount("proc", is.Proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return 0, fmt.Errorf("mounting /proc: %w", err)
	}
	maskProc(is.Proc, filepath.Join(is.Dev, "null"))
	if err := pivot(is.Root); err != nil {
		return 0, err
	}

	dir := is.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("creating working directory %s: %w", dir, err)
	}
	passwd, group := openOrNil("/etc/passwd"), openOrNil("/etc/group")
	id, err := resolveUser(is.User, passwd, group)
	passwd.Close()
	group.Close()
	if err != nil {
		return 0, err
	}
	env := withDefaults(is.Env, id.Home)
	argv0, err := lookPath(is.Args[0], env)
	if err != nil {
		return 0, &ExitError{Code: 127, err: err}
	}

	// --ulimit: limits are inherited across fork, so the command starts
	// under them.
	for _, u := range is.Ulimits {
		if err := unix.Setrlimit(u.Resource, &unix.Rlimit{Cur: u.Soft, Max: u.Hard}); err != nil {
			return 0, fmt.Errorf("setting ulimit %d to %d:%d: %w", u.Resource, u.Soft, u.Hard, err)
		}
	}

	var filter *seccomp.Program
	if !is.Seccomp.Unconfined {
		if filter, err = compileSeccomp(is.Seccomp); err != nil {
			return 0, err
		}
	}

	// The bounding set is per thread: drop it on this locked thread and
	// fork from it. The thread is never unlocked, so it dies with us.
	runtime.LockOSThread()
	if err := dropBoundingCaps(); err != nil {
		return 0, fmt.Errorf("dropping capabilities: %w", err)
	}
	groups := make([]uint32, len(id.Groups))
	for i, g := range id.Groups {
		groups[i] = uint32(g)
	}
	attr := &os.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(id.UID), Gid: uint32(id.GID), Groups: groups, NoSetGroups: is.Rootless && !is.SubIDs},
		},
	}
	if filter != nil {
		// Last, on the thread the command is forked from (a filter is
		// per thread and inherited): the command runs under it from its
		// first instruction, and so does this thread, which from here
		// on only forks and waits.
		if err := seccomp.Install(filter); err != nil {
			return 0, err
		}
	}
	p, err := os.StartProcess(argv0, is.Args, attr)
	if err != nil {
		if errors.Is(err, syscall.ENOEXEC) {
			if arch := elfArch(argv0); arch != "" && arch != runtime.GOARCH {
				err = fmt.Errorf("%w: it is a program for linux/%s and this machine is linux/%s; running it needs qemu-user-static registered with binfmt_misc", err, arch, runtime.GOARCH)
			}
		}
		return 0, &ExitError{Code: 126, err: fmt.Errorf("exec %s: %w", is.Args[0], err)}
	}
	return p.Pid, nil
}

// elfArch names the GOARCH an ELF executable is for, "" when the file is
// not one berth recognises.
func elfArch(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:4]) != "\x7fELF" {
		return ""
	}
	var machine uint16
	if h[5] == 2 { // big-endian
		machine = uint16(h[18])<<8 | uint16(h[19])
	} else {
		machine = uint16(h[19])<<8 | uint16(h[18])
	}
	switch machine {
	case 3:
		return "386"
	case 8:
		return "mips"
	case 20:
		return "ppc"
	case 21:
		return "ppc64le"
	case 22:
		return "s390x"
	case 40:
		return "arm"
	case 62:
		return "amd64"
	case 183:
		return "arm64"
	case 243:
		return "riscv64"
	case 258:
		return "loong64"
	}
	return ""
}

// pivot makes root the root of this mount namespace and detaches the old
// one, so nothing of the host is reachable, /proc/self/root included.
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("entering root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching old root: %w", err)
	}
	return unix.Chdir("/")
}

// maskProc hides the /proc files Docker hides from containers and makes the
// kernel tunables read-only. Best effort: some do not exist on every kernel.
func maskProc(proc, null string) {
	for _, p := range []string{"kcore", "keys", "latency_stats", "timer_list", "timer_stats", "sched_debug"} {
		_ = unix.Mount(null, filepath.Join(proc, p), "", unix.MS_BIND, "")
	}
	for _, p := range []string{"acpi", "scsi", "asound"} {
		_ = unix.Mount("tmpfs", filepath.Join(proc, p), "tmpfs", unix.MS_RDONLY, "")
	}
	for _, p := range []string{"bus", "fs", "irq", "sys", "sysrq-trigger"} {
		dst := filepath.Join(proc, p)
		if unix.Mount(dst, dst, "", unix.MS_BIND|unix.MS_REC, "") == nil {
			_ = unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}
	}
}

func withDefaults(env []string, home string) []string {
	out := append([]string(nil), env...)
	has := func(k string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	if !has("PATH") {
		out = append(out, "PATH="+defaultPath)
	}
	if !has("HOME") {
		out = append(out, "HOME="+home)
	}
	return out
}

// lookPath finds name in the PATH of env, inside the sandbox's root.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

// compileSeccomp loads and compiles a step's profile for this machine and
// the capabilities the step gets.
func compileSeccomp(s Seccomp) (*seccomp.Program, error) {
	f, err := seccomp.Load(s.Profile, defaultCapNames)
	if err == nil {
		var p *seccomp.Program
		if p, err = seccomp.Compile(f, runtime.GOARCH); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("seccomp profile: %w", err)
}
