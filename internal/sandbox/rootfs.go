package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/sandbox/layerdiff"
	"golang.org/x/sys/unix"
)

// rootfs is the supervisor's view of the step's root filesystem.
type rootfs struct {
	state       string
	rootless    bool
	root        string // the merged overlay, or the copied tree in copy mode
	proc, dev   string // where /proc and /dev resolve inside root (host paths)
	upper       string
	copyMode    bool
	before      *layerdiff.Snapshot // copy mode: the tree before the command
	stubs       []stub              // mount points we created, in creation order
	secrets     string              // tmpfs holding secret files, never on disk
	locks       []*os.File          // cache locks held for the step
	unions      int                 // stage unions and writable views mounted for bind mounts
	extraMounts []string            // mounts outside the root, detached at the end
}

// stub is a mount point Run created; it is removed before the layer is made
// so that mounts leave no trace in the image.
type stub struct {
	rel, parent string // relative to the root
	times       []unix.Timespec
}

func (fs *rootfs) setup(ctx context.Context, sp *supervisorSpec) error {
	var err error
	if !sp.ForceCopy {
		err = fs.mountOverlay(sp.Lowers)
	}
	if sp.ForceCopy || err != nil {
		if err := fs.copyRoot(ctx, sp.Lowers); err != nil {
			return err
		}
	}
	if err := fs.mountSystem(sp); err != nil {
		return err
	}
	mounts := append([]Mount(nil), sp.Mounts...)
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(filepath.Clean(mounts[i].Target), "/") < strings.Count(filepath.Clean(mounts[j].Target), "/")
	})
	for _, m := range mounts {
		if err := fs.mountUser(m); err != nil {
			return fmt.Errorf("mounting %s at %s: %w", m.Type, m.Target, err)
		}
	}
	return nil
}

// maxOverlayLayers is overlayfs's limit on lower layers (OVL_MAX_STACK).
const maxOverlayLayers = 500

// mountOverlay mounts the lowers (bottom first) with a fresh upper dir.
// Lowers that share a parent directory (the snapshot store) are passed by
// name from that directory, so about 60 layers fit in the one page of mount
// options the kernel accepts; past that they are passed by short links.
func (fs *rootfs) mountOverlay(lowers []string) error {
	fs.root = filepath.Join(fs.state, "merged")
	fs.upper = filepath.Join(fs.state, "upper")
	work := filepath.Join(fs.state, "work")
	for _, d := range []string{fs.root, fs.upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if len(lowers) == 0 {
		empty := filepath.Join(fs.state, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return err
		}
		lowers = []string{empty}
	}
	names := make([]string, len(lowers))
	common := filepath.Dir(lowers[0])
	for _, l := range lowers {
		if filepath.Dir(l) != common {
			common = ""
		}
	}
	for i, l := range lowers {
		n := l
		if common != "" {
			n = filepath.Base(l)
		}
		if strings.ContainsAny(n, ":,") {
			return fmt.Errorf("lower layer path %q contains ':' or ','", l)
		}
		names[len(lowers)-1-i] = n // overlayfs lists the top layer first
	}
	// volatile: the upper dir is read once and deleted, so the syncfs that
	// overlayfs does on unmount (of the whole host filesystem) is pure cost.
	options := func(names []string) string {
		o := "lowerdir=" + strings.Join(names, ":") + ",upperdir=" + fs.upper + ",workdir=" + work + ",volatile"
		if fs.rootless {
			o += ",userxattr"
		}
		return o
	}
	opts := options(names)
	dir := common
	if len(opts) >= os.Getpagesize() {
		// Still too long: name each lower by a one-to-three digit link in
		// a directory of our own (overlayfs follows links in lowerdir),
		// which fits overlayfs's own limit of 500 layers.
		if len(lowers) > maxOverlayLayers {
			return fmt.Errorf("too many layers (%d) for one overlay mount", len(lowers))
		}
		dir = filepath.Join(fs.state, "l")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		for i, l := range lowers {
			n := strconv.Itoa(i)
			if err := os.Symlink(l, filepath.Join(dir, n)); err != nil {
				return err
			}
			names[len(lowers)-1-i] = n
		}
		opts = options(names)
		if len(opts) >= os.Getpagesize() {
			return fmt.Errorf("too many layers (%d) for one overlay mount", len(lowers))
		}
	}
	if dir != "" {
		if err := os.Chdir(dir); err != nil {
			return err
		}
		defer os.Chdir("/")
	}
	err := unix.Mount("overlay", fs.root, "overlay", 0, opts)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 5.10 do not know "volatile"; overlay beats copying.
		err = unix.Mount("overlay", fs.root, "overlay", 0, strings.Replace(opts, ",volatile", "", 1))
	}
	if err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	return nil
}

// copyRoot is the fallback where overlayfs cannot be mounted: the lowers are
// copied into one tree, which is recorded so the change set can be found by
// comparison afterwards.
func (fs *rootfs) copyRoot(ctx context.Context, lowers []string) error {
	if fs.root != "" {
		_ = unix.Unmount(fs.root, unix.MNT_DETACH)
	}
	fs.copyMode = true
	fs.upper = ""
	fs.root = filepath.Join(fs.state, "rootfs")
	if err := os.Mkdir(fs.root, 0o755); err != nil {
		return err
	}
	for _, l := range lowers {
		if err := copyLayer(ctx, l, fs.root, fs.rootless); err != nil {
			return fmt.Errorf("copying layer %s: %w", l, err)
		}
	}
	// pivot_root needs a mount point.
	if err := unix.Mount(fs.root, fs.root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding root: %w", err)
	}
	snap, err := layerdiff.Scan(ctx, fs.root)
	if err != nil {
		return err
	}
	fs.before = snap
	return nil
}

// mountpoint returns the host path of target inside the root, creating it
// (a directory, or an empty file when file is set) and any missing parents
// as stubs. Symlinks in the image are resolved as if the root were "/", so
// an image cannot point a mount at a host path. The path returned holds no
// symlink, and mount(2) is given that path: only what a cache or bind
// mount shares with other steps could change under it, and a mount moved
// that way lands outside the root, which pivot_root then detaches.
func (fs *rootfs) mountpoint(target string, file bool) (string, error) {
	return fs.mountpointDepth(target, file, 0)
}

func (fs *rootfs) mountpointDepth(target string, file bool, depth int) (string, error) {
	if depth > 40 {
		return "", fmt.Errorf("too many levels of symbolic links at %s", target)
	}
	rootFd, err := unix.Open(fs.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(rootFd)
	how := func(flags uint64) *unix.OpenHow {
		return &unix.OpenHow{Flags: flags | unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	}
	rel := strings.TrimPrefix(filepath.Clean("/"+target), "/")
	if rel == "" {
		return "", errors.New("cannot mount over the root")
	}
	comps := strings.Split(rel, "/")
	cur := "."
	for i, c := range comps {
		p := filepath.Join(cur, c)
		last := i == len(comps)-1
		fd, err := unix.Openat2(rootFd, p, how(0))
		if errors.Is(err, unix.ENOENT) {
			// A dangling symlink: follow it by hand (still inside the root)
			// and make the mount point where it leads.
			if link, lerr := fs.readlinkIn(rootFd, cur, c, how); lerr == nil {
				next := link
				if !filepath.IsAbs(link) {
					next = filepath.Join("/", cur, link)
				}
				rest := strings.Join(comps[i+1:], "/")
				return fs.mountpointDepth(filepath.Join(next, rest), file, depth+1)
			}
			if err := fs.makeStub(rootFd, cur, c, last && file, how); err != nil {
				return "", err
			}
			fd, err = unix.Openat2(rootFd, p, how(0))
		}
		if err != nil {
			return "", err
		}
		real, err := fs.realPath(fd)
		unix.Close(fd)
		if err != nil {
			return "", err
		}
		if last {
			if real == "" {
				// A link to "/" (an image's /proc -> /): mounting there
				// would cover the whole root.
				return "", fmt.Errorf("%s resolves to the root itself", target)
			}
			return filepath.Join(fs.root, real), nil
		}
		cur = real
		if cur == "" {
			cur = "."
		}
	}
	return "", errors.New("unreachable")
}

// readlinkIn reads name in the directory parent (resolved inside the root)
// when it is a symlink.
func (fs *rootfs) readlinkIn(rootFd int, parent, name string, how func(uint64) *unix.OpenHow) (string, error) {
	pfd, err := unix.Openat2(rootFd, parent, how(unix.O_DIRECTORY))
	if err != nil {
		return "", err
	}
	defer unix.Close(pfd)
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(pfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// realPath returns where an fd opened inside the root really is, relative
// to the root.
func (fs *rootfs) realPath(fd int) (string, error) {
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	if p == fs.root {
		return "", nil
	}
	rel, ok := strings.CutPrefix(p, fs.root+"/")
	if !ok {
		return "", fmt.Errorf("mount point resolved outside the root: %s", p)
	}
	return rel, nil
}

func (fs *rootfs) makeStub(rootFd int, parent, name string, file bool, how func(uint64) *unix.OpenHow) error {
	pfd, err := unix.Openat2(rootFd, parent, how(unix.O_DIRECTORY))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	prel, err := fs.realPath(pfd)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return err
	}
	if file {
		fd, err := unix.Openat(pfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		unix.Close(fd)
	} else if err := unix.Mkdirat(pfd, name, 0o755); err != nil {
		return err
	}
	rel := name
	if prel != "" {
		rel = prel + "/" + name
	}
	fs.stubs = append(fs.stubs, stub{rel: rel, parent: prel, times: []unix.Timespec{st.Atim, st.Mtim}})
	return nil
}

// removeStubs deletes the mount points Run created (when nothing was put in
// them) and gives their parents back their times, so the layer holds only
// what the command did. The root must be unmounted.
func (fs *rootfs) removeStubs() error {
	base := fs.upper
	if fs.copyMode {
		base = fs.root
	}
	made := map[string]bool{}
	for _, s := range fs.stubs {
		made[s.rel] = true
	}
	for i := len(fs.stubs) - 1; i >= 0; i-- {
		s := fs.stubs[i]
		p := filepath.Join(base, s.rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			continue
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if unix.Rmdir(p) != nil {
				continue // the command put something there: a real change
			}
		case unix.S_IFREG:
			if st.Size != 0 || unix.Unlink(p) != nil {
				continue
			}
		default:
			continue
		}
		if !made[s.parent] {
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(base, s.parent), s.times, unix.AT_SYMLINK_NOFOLLOW)
		}
	}
	return nil
}

// unmount detaches every mount of the step; the mount namespace dies with
// the supervisor, but the upper dir must be quiet before it is read.
func (fs *rootfs) unmount() {
	if fs.root != "" {
		_ = unix.Unmount(fs.root, unix.MNT_DETACH)
	}
	if fs.secrets != "" {
		_ = unix.Unmount(fs.secrets, unix.MNT_DETACH)
	}
	for _, m := range fs.extraMounts {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
	for _, l := range fs.locks {
		l.Close()
	}
	fs.locks = nil
}
