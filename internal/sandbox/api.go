package sandbox

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Mount types accepted in Mount.Type, as in RUN --mount=type=….
const (
	MountBind   = "bind"
	MountCache  = "cache"
	MountTmpfs  = "tmpfs"
	MountSecret = "secret"
)

// Mount is one RUN --mount. Nothing under a mount's Target ends up in the
// layer, and the mount point itself is removed again when Run created it.
type Mount struct {
	// Type is MountBind, MountCache, MountTmpfs or MountSecret.
	Type string
	// Source is a host path: the directory or file to bind (MountBind), the
	// persistent cache directory, created if missing, e.g. ROOT/cache/<id>
	// (MountCache), or the secret file (MountSecret). Unused for MountTmpfs.
	Source string
	// Lowers, for MountBind from a stage or image (from=…), are that
	// stage's unpacked layer directories, bottom first: Source is then a
	// path inside their read-only union (symlinks resolved inside it), not
	// a host path.
	Lowers []string
	// Target is the absolute path inside the root filesystem.
	Target string
	// ReadOnly mounts a bind or cache mount read-only (secrets always are).
	ReadOnly bool
	// Mode is the mode of a created cache directory (default 0755) or of the
	// secret file (default 0400).
	Mode os.FileMode
	// UID and GID own a created cache directory or the secret file.
	UID, GID int
	// Sharing is the cache sharing mode: "shared" (default) lets concurrent
	// runs use the directory together, "locked" serialises them with a lock
	// on the directory, "private" gives each concurrent run its own
	// instance of the cache.
	Sharing string
	// Size limits a tmpfs in bytes (0: the kernel's default).
	Size int64
}

// Spec describes one RUN step.
type Spec struct {
	// Lowers are unpacked layer directories from the store NewSnapshots
	// opens, bottom first. Empty means FROM scratch.
	Lowers []string
	// Args is the argv to execute (the builder expands the shell form to
	// SHELL + command first). Args[0] is looked up in PATH from Env.
	Args []string
	// Env is the environment, KEY=VALUE. A missing PATH gets Docker's default.
	Env []string
	// Dir is the working directory, created (0755, root) when missing.
	// Empty means "/".
	Dir string
	// User is "name", "uid", "name:group" or "uid:gid", resolved from the
	// root filesystem's /etc/passwd and /etc/group. Empty means root.
	User string
	// Hostname defaults to "berth".
	Hostname string
	// ExtraHosts are /etc/hosts lines ("IP\tNAME") after the defaults,
	// as docker build --add-host writes them.
	ExtraHosts []string
	// Network is "host" (default, also "" and "default") or "none".
	Network string
	// Mounts are the step's RUN --mount options.
	Mounts []Mount
	// Seccomp is the step's system call filter; the zero value is Docker's
	// default profile, which Docker applies to every build step.
	Seccomp Seccomp
	// ShmSize is the size of /dev/shm in bytes (docker build --shm-size);
	// 0 is Docker's default, 64 MiB.
	ShmSize int64
	// Ulimits are resource limits for the command (docker build
	// --ulimit), set in the sandbox's init before it starts the command.
	Ulimits []Ulimit
	// Stdout and Stderr receive the command's output; nil discards it.
	// The command's stdin is /dev/null. When the command cannot be started
	// (exit 126 or 127) the reason is written to Stderr.
	Stdout, Stderr io.Writer
	// TempDir holds the step's upper and work directories (default
	// os.TempDir()); it must support user xattrs when rootless.
	TempDir string

	forceCopy bool // tests: use the copy-and-compare fallback even where overlayfs works
}

// Ulimit is one resource limit: Resource is RLIMIT_* (unix), Soft and
// Hard its values.
type Ulimit struct {
	Resource   int
	Soft, Hard uint64
}

// Seccomp selects a step's seccomp filter (see package seccomp for how a
// profile is read and compiled).
type Seccomp struct {
	// Unconfined runs the step without a filter, as
	// --security-opt seccomp=unconfined.
	Unconfined bool
	// Profile replaces Docker's default with a profile in Docker's JSON
	// format, as --security-opt seccomp=PROFILE.json.
	Profile []byte
}

// CheckSeccomp reports what is wrong with s's profile, if anything, as a
// step would find it: callers check a user's profile once, before the
// first step, instead of failing in the middle of a build.
func CheckSeccomp(s Seccomp) error {
	if s.Unconfined {
		return nil
	}
	_, err := compileSeccomp(s)
	return err
}

// ExitError reports that the command ran and exited with a non-zero status
// (128+signal when it was killed by a signal).
type ExitError struct {
	Code int
	err  error // why the command could not start (codes 126, 127), if known
}

func (e *ExitError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%v (exit code %d)", e.err, e.Code)
	}
	return fmt.Sprintf("process exited with code %d", e.Code)
}

// Run executes spec in the sandbox and waits for it. When the command exits 0
// and layer is not nil, the change set is written to layer as an uncompressed
// OCI layer tar: entries in lexical order of the paths they concern (a
// whiteout sorts as the name it deletes), parents before children,
// deletions as ".wh.<name>", directories that replace a lower one followed by
// "<dir>/.wh..wh..opq", hard links as link entries, ownership as the image
// sees it. A non-zero exit returns *ExitError; on any error, whatever was
// written to layer must be discarded. Cancelling ctx kills every process of
// the step. Run leaves no mount, process or temporary directory behind.
func Run(ctx context.Context, spec Spec, layer io.Writer) error {
	return run(ctx, spec, layer)
}

// Main must be the first call in main(). In an ordinary berth process it
// returns at once; in a process re-executed by Run it runs the sandbox side
// and exits without returning. Run re-executes /proc/self/exe, so a test
// binary that calls Run (directly or through the builder) needs
//
//	func TestMain(m *testing.M) { sandbox.Main(); os.Exit(m.Run()) }
func Main() {
	switch os.Getenv(envMode) {
	case modeSupervisor:
		if os.Getenv(envSync) == "1" {
			os.Exit(awaitMapping())
		}
		os.Exit(supervise())
	case modeInit:
		os.Exit(initMain())
	case modeExtract:
		if os.Getenv(envSync) == "1" {
			os.Exit(awaitMapping())
		}
		os.Exit(extractMain())
	}
}
