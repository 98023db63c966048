package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/sandbox/layerdiff"
	"golang.org/x/sys/unix"
)

// initSpec is what the supervisor sends the sandbox's PID 1.
type initSpec struct {
	Root     string
	Proc     string // host path of /proc inside Root (links resolved in it)
	Dev      string // host path of /dev inside Root
	Args     []string
	Env      []string
	Dir      string
	User     string
	Hostname string
	Rootless bool
	SubIDs   bool
	Seccomp  Seccomp
	Ulimits  []Ulimit
}

// supervise is the re-executed supervisor: in its own mount namespace (and
// user namespace when rootless) it builds the root filesystem, runs the
// sandbox's PID 1, and writes the layer. It returns the process exit status;
// results go to the parent as JSON lines on fdResult.
func supervise() int {
	res := os.NewFile(fdResult, "result")
	if res == nil {
		res, _ = os.Open(os.DevNull)
	}
	enc := json.NewEncoder(res)
	r, err := superviseRun(enc)
	if err != nil {
		r.Error = err.Error()
	}
	r.Done = true
	_ = enc.Encode(&r)
	return 0
}

// awaitMapping waits until the parent has written this process's id
// mapping, then re-executes it as the supervisor proper.
func awaitMapping() int {
	var b [1]byte
	if n, err := os.NewFile(fdSpec, "spec").Read(b[:]); n != 1 || err != nil {
		return 125
	}
	err := syscall.Exec("/proc/self/exe", os.Args, []string{envMode + "=" + os.Getenv(envMode)})
	fmt.Fprintf(os.Stderr, "berth: sandbox: re-executing: %v\n", err)
	return 125
}

func superviseRun(enc *json.Encoder) (result, error) {
	var sp supervisorSpec
	f := os.NewFile(fdSpec, "spec")
	if err := json.NewDecoder(f).Decode(&sp); err != nil {
		return result{}, fmt.Errorf("reading sandbox spec: %w", err)
	}
	f.Close()
	if sp.CleanupOnly {
		(&rootfs{state: sp.State}).cleanupState()
		return result{}, nil
	}
	// Nothing we mount may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return result{}, fmt.Errorf("making mounts private: %w", err)
	}
	ctx := context.Background()
	fs := &rootfs{state: sp.State, rootless: sp.Rootless}
	defer fs.cleanupState()
	if err := fs.setup(ctx, &sp); err != nil {
		fs.unmount()
		return result{Copy: fs.copyMode}, err
	}
	code, err := fs.runInit(enc, &sp)
	fs.unmount()
	if err != nil {
		return result{Copy: fs.copyMode}, err
	}
	if code != 0 {
		return result{Code: code, Copy: fs.copyMode}, nil
	}
	if sp.WantLayer {
		if err := fs.writeLayer(ctx, &sp); err != nil {
			return result{Copy: fs.copyMode}, err
		}
	}
	return result{Copy: fs.copyMode}, nil
}

// runInit starts the sandbox's PID 1 in new PID, UTS, IPC and mount (and
// network) namespaces and waits for it.
func (fs *rootfs) runInit(enc *json.Encoder, sp *supervisorSpec) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	defer w.Close()
	flags := uintptr(syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWNS)
	if sp.Network == "none" {
		flags |= syscall.CLONE_NEWNET
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"berth-sandbox-init", fs.state},
		Env:         []string{envMode + "=" + modeInit},
		Stdin:       devnull,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{r},
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL},
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting sandbox init: %w", err)
	}
	r.Close()
	_ = enc.Encode(result{InitPid: cmd.Process.Pid})
	is := initSpec{Root: fs.root, Proc: fs.proc, Dev: fs.dev, Args: sp.Args, Env: sp.Env, Dir: sp.Dir, User: sp.User, Hostname: sp.Hostname, Rootless: sp.Rootless, SubIDs: sp.SubIDs, Seccomp: sp.Seccomp, Ulimits: sp.Ulimits}
	if err := json.NewEncoder(w).Encode(&is); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, fmt.Errorf("sending spec to sandbox init: %w", err)
	}
	w.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("waiting for sandbox init: %w", err)
	}
	return 0, nil
}

func (fs *rootfs) writeLayer(ctx context.Context, sp *supervisorSpec) error {
	if err := fs.removeStubs(); err != nil {
		return err
	}
	out := os.NewFile(fdLayer, "layer")
	defer out.Close()
	if fs.copyMode {
		return layerdiff.Compare(ctx, out, fs.root, fs.before)
	}
	return layerdiff.Overlay(ctx, out, fs.upper, sp.Lowers)
}

// cleanupState removes everything the supervisor made in the state dir; it
// runs inside the user namespace, where it may delete files owned by any
// mapped id. The parent removes the (then empty) state dir itself.
func (fs *rootfs) cleanupState() {
	ents, err := os.ReadDir(fs.state)
	if err != nil {
		return
	}
	for _, e := range ents {
		_ = fsutil.RemoveAll(filepath.Join(fs.state, e.Name()))
	}
}
