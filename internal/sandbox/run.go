package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
	"golang.org/x/sys/unix"
)

// envMode names the role of a re-executed berth process.
const envMode = "BERTH_SANDBOX"

// envSync asks a rootless supervisor to wait for its id mapping and re-exec.
const envSync = "BERTH_SANDBOX_SYNC"

const (
	modeSupervisor = "supervisor"
	modeInit       = "init"
	modeExtract    = "extract"
)

// Child file descriptors (ExtraFiles start at 3).
const (
	fdSpec   = 3 // spec JSON in
	fdLayer  = 4 // layer tar out (supervisor)
	fdResult = 5 // JSON lines out (supervisor)
)

// supervisorSpec is what Run sends the supervisor over fdSpec.
type supervisorSpec struct {
	Spec
	State       string // private temp dir: upper, work, merged, secrets
	Rootless    bool
	SubIDs      bool // rootless with subordinate id ranges mapped
	WantLayer   bool
	ForceCopy   bool
	CleanupOnly bool // just empty State (after a killed step, rootless)
}

// result is one JSON line from the supervisor.
type result struct {
	InitPid int    `json:",omitempty"` // host pid of the sandbox's PID 1, sent once started
	Done    bool   `json:",omitempty"`
	Code    int    `json:",omitempty"`
	Error   string `json:",omitempty"`
	Copy    bool   `json:",omitempty"` // the copy fallback was used
}

func validate(spec *Spec) error {
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return errors.New("no command to run")
	}
	switch spec.Network {
	case "", "host", "default", "none":
	default:
		return fmt.Errorf("network mode %q is not supported: use host or none", spec.Network)
	}
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Target) {
			return fmt.Errorf("mount target %q must be an absolute path", m.Target)
		}
		switch m.Type {
		case MountBind, MountCache, MountSecret:
			if m.Type == MountBind && len(m.Lowers) > 0 {
				continue // Source is inside the union of Lowers
			}
			if !filepath.IsAbs(m.Source) {
				return fmt.Errorf("%s mount source %q must be an absolute host path", m.Type, m.Source)
			}
		case MountTmpfs:
		default:
			return fmt.Errorf("mount type %q is not supported: use bind, cache, tmpfs or secret", m.Type)
		}
	}
	if len(spec.Seccomp.Profile) > 0 && !json.Valid(spec.Seccomp.Profile) {
		// The rest is checked where it is compiled, in the step (and by
		// CheckSeccomp, which callers run once up front).
		return errors.New("the seccomp profile is not JSON")
	}
	for _, l := range spec.Lowers {
		if fi, err := os.Stat(l); err != nil || !fi.IsDir() {
			return fmt.Errorf("lower layer %s is not an unpacked layer directory", l)
		}
	}
	return nil
}

func run(ctx context.Context, spec Spec, layer io.Writer) (err error) {
	if err := validate(&spec); err != nil {
		return fmt.Errorf("invalid RUN: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp := spec.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	state, err := os.MkdirTemp(tmp, statePrefix)
	if err != nil {
		return fmt.Errorf("creating sandbox state dir: %w", err)
	}
	// The lock tells Sweep the dir is in use; the kernel drops it if we die.
	if lock, err := os.Open(state); err == nil {
		_ = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		defer lock.Close()
	}
	defer func() {
		if rerr := fsutil.RemoveAll(state); rerr != nil && err == nil {
			err = fmt.Errorf("removing sandbox state dir: %w", rerr)
		}
	}()

	rootless := os.Geteuid() != 0
	sup := supervisorSpec{Spec: spec, State: state, Rootless: rootless, WantLayer: layer != nil, ForceCopy: spec.forceCopy}
	sup.Stdout, sup.Stderr = nil, nil

	pipes, closePipes, err := openPipes(3)
	if err != nil {
		return err
	}
	defer closePipes()
	specPipe, layerPipe, resPipe := pipes[0], pipes[1], pipes[2]

	var mapper *idMapper
	if rootless {
		mapper = lookupIDMapper()
	}
	sup.SubIDs = mapper != nil
	extra := []*os.File{specPipe.r, layerPipe.w, resPipe.w}
	cmd, err := startChild(modeSupervisor, state, spec.Stdout, spec.Stderr, extra, specPipe.w, rootless, mapper)
	if err != nil && mapper != nil {
		// newuidmap refused (e.g. a misconfigured range): one id still works.
		mapper, sup.SubIDs = nil, false
		cmd, err = startChild(modeSupervisor, state, spec.Stdout, spec.Stderr, extra, specPipe.w, rootless, nil)
	}
	if err != nil {
		return fmt.Errorf("starting sandbox: %w", err)
	}
	if mapper != nil {
		// Files the step made may belong to subordinate ids we cannot
		// delete from outside the namespace.
		defer cleanupAs(state, mapper)
	}
	specPipe.r.Close()
	layerPipe.w.Close()
	resPipe.w.Close()
	pgid := cmd.Process.Pid

	// Kill the whole step when ctx is cancelled; the init's PID namespace
	// takes every process of the step down with it.
	stop := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = unix.Kill(-pgid, unix.SIGKILL)
			close(killed)
		case <-stop:
		}
	}()
	defer close(stop)

	enc := json.NewEncoder(specPipe.w)
	if err := enc.Encode(&sup); err != nil {
		_ = unix.Kill(-pgid, unix.SIGKILL)
		_ = cmd.Wait()
		if ctx.Err() != nil {
			return fmt.Errorf("running %s: %w", describe(spec.Args), ctx.Err())
		}
		return fmt.Errorf("sending spec to sandbox: %w", err)
	}
	specPipe.w.Close()

	copied := make(chan error, 1)
	go func() {
		w := layer
		if w == nil {
			w = io.Discard
		}
		_, err := io.Copy(w, layerPipe.r)
		if err != nil {
			// Unblock the supervisor: it gets EPIPE and reports it.
			layerPipe.r.Close()
		}
		copied <- err
	}()

	var res result
	initPid := 0
	sc := bufio.NewScanner(resPipe.r)
	for sc.Scan() {
		var r result
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if r.InitPid != 0 {
			initPid = r.InitPid
		}
		if r.Done {
			res = r
		}
	}
	werr := cmd.Wait()
	cerr := <-copied
	if initPid != 0 {
		waitGone(initPid)
	}

	select {
	case <-killed:
		return fmt.Errorf("running %s: %w", describe(spec.Args), ctx.Err())
	default:
	}
	if !res.Done {
		if werr != nil {
			return fmt.Errorf("sandbox supervisor died: %w", werr)
		}
		return errors.New("sandbox supervisor exited without a result")
	}
	if res.Error != "" {
		return fmt.Errorf("running %s: %s", describe(spec.Args), res.Error)
	}
	if res.Code != 0 {
		return &ExitError{Code: res.Code}
	}
	if cerr != nil {
		return fmt.Errorf("writing layer: %w", cerr)
	}
	return nil
}

// pipe is one os.Pipe: r is its read end, w its write end.
type pipe struct{ r, w *os.File }

// openPipes opens n pipes for talking to a child, or none on error. The
// returned closeAll closes every end. Callers close the child's ends
// themselves as soon as it has started (so they see EOF when it exits) and
// their own ends when done writing; closeAll closing those again is
// harmless, as a second os.File.Close only returns os.ErrClosed.
func openPipes(n int) (pipes []pipe, closeAll func(), err error) {
	closeAll = func() {
		for _, p := range pipes {
			p.r.Close()
			p.w.Close()
		}
	}
	for i := 0; i < n; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		pipes = append(pipes, pipe{r, w})
	}
	return pipes, closeAll, nil
}

// startChild re-executes berth as the sandbox supervisor in a new mount
// namespace (and user namespace when rootless) and its own process group.
//
// The state dir is the process's argument, so ps shows which step it serves.
func startChild(mode, state string, stdout, stderr io.Writer, extra []*os.File, spec io.Writer, rootless bool, mapper *idMapper) (*exec.Cmd, error) {
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"berth-sandbox", state},
		Env:        []string{envMode + "=" + mode},
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: extra,
		WaitDelay:  5 * time.Second,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWNS,
			Setpgid:    true,
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	if rootless {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		if mapper != nil {
			cmd.Env = append(cmd.Env, envSync+"=1")
		}
		if mapper == nil {
			// One mapping: the caller becomes root of the new namespace.
			cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
			cmd.SysProcAttr.GidMappingsEnableSetgroups = false
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if mapper != nil {
		// The child waits for one byte on its spec pipe, then re-executes
		// itself: only an execve as the newly mapped root gains the
		// namespace's capabilities (they were dropped by the first execve,
		// done while still unmapped).
		if err := mapper.apply(cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, err
		}
		if _, err := spec.Write([]byte{'\n'}); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, err
		}
	}
	return cmd, nil
}

// cleanupAs empties state from inside a user namespace with mapper's ids,
// where files owned by subordinate ids can be deleted. It does nothing when
// the state dir is already gone (the normal case: the supervisor emptied it).
func cleanupAs(state string, mapper *idMapper) {
	if _, err := os.Stat(state); err != nil {
		return
	}
	if fsutil.RemoveAll(state) == nil {
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		return
	}
	defer r.Close()
	defer w.Close()
	cmd, err := startChild(modeSupervisor, state, nil, nil, []*os.File{r}, w, true, mapper)
	if err != nil {
		return
	}
	r.Close()
	_ = json.NewEncoder(w).Encode(&supervisorSpec{State: state, CleanupOnly: true, Rootless: true})
	w.Close()
	_ = cmd.Wait()
	_ = fsutil.RemoveAll(state)
}

// statePrefix names the per-step state dirs in TempDir.
const statePrefix = "berth-run-"

// Sweep removes the state dirs of steps whose berth process was killed
// outright (SIGKILL, power loss) before it could clean up, in tempDir (""
// means os.TempDir(); pass the same dir as Spec.TempDir). Dirs of steps still
// running are locked and kept. A builder calls it once at start.
func Sweep(ctx context.Context, tempDir string) error {
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	ents, err := os.ReadDir(tempDir)
	if err != nil {
		return fmt.Errorf("sweeping sandbox state: %w", err)
	}
	var mapper *idMapper
	if os.Geteuid() != 0 {
		mapper = lookupIDMapper()
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.IsDir() || !strings.HasPrefix(e.Name(), statePrefix) {
			continue
		}
		p := filepath.Join(tempDir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		busy := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil
		if !busy {
			if mapper != nil {
				cleanupAs(p, mapper)
			} else {
				_ = fsutil.RemoveAll(p)
			}
		}
		f.Close()
	}
	return nil
}

// waitGone waits briefly until the sandbox's PID 1, reparented when the
// supervisor was killed, has exited, so its namespaces and mounts are gone.
func waitGone(pid int) {
	for i := 0; i < 200; i++ {
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			return
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			// A zombie waiting for its new parent to reap it is gone for us.
			if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func describe(args []string) string {
	s := strings.Join(args, " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return fmt.Sprintf("%q", s)
}
