package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	"golang.org/x/sys/unix"
)

// devices are bound from the host into the sandbox's /dev, the minimal set
// an OCI runtime provides. Binding (not mknod) works in a user namespace too.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// mountSystem prepares /dev, /sys, the /proc mount point, /etc/hosts and
// /etc/resolv.conf. /proc itself is mounted by the init, inside the new PID
// namespace.
func (fs *rootfs) mountSystem(sp *supervisorSpec) error {
	// The init mounts proc where /proc resolves inside the root (an
	// image's link there must not lead the mount to a host path).
	proc, err := fs.mountpoint("/proc", false)
	if err != nil {
		return fmt.Errorf("preparing /proc: %w", err)
	}
	dev, err := fs.mountpoint("/dev", false)
	if err != nil {
		return fmt.Errorf("preparing /dev: %w", err)
	}
	fs.proc, fs.dev = proc, dev
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	for _, d := range devices {
		p := filepath.Join(dev, d)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding /dev/%s: %w", d, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	ptsOpts := "newinstance,ptmxmode=0666,mode=0620"
	if !fs.rootless {
		ptsOpts += ",gid=5"
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, ptsOpts); err != nil {
		return fmt.Errorf("mounting /dev/pts: %w", err)
	}
	shm := int64(64 << 20)
	if sp.ShmSize > 0 {
		shm = sp.ShmSize
	}
	if err := unix.Mount("shm", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, fmt.Sprintf("mode=1777,size=%dk", (shm+1023)/1024)); err != nil {
		return fmt.Errorf("mounting /dev/shm: %w", err)
	}
	for name, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "core": "/proc/kcore"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}

	sys, err := fs.mountpoint("/sys", false)
	if err != nil {
		return fmt.Errorf("preparing /sys: %w", err)
	}
	// A fresh read-only sysfs (never a bind of the host's, whose submounts
	// such as cgroup would stay writable). Rootless kernels only allow it in
	// an owned network namespace; then /sys stays empty.
	if !fs.rootless {
		if err := unix.Mount("sysfs", sys, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mounting /sys: %w", err)
		}
	}

	hostname := sp.Hostname
	if hostname == "" {
		hostname = "berth"
	}
	hosts := "127.0.0.1\tlocalhost " + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	for _, h := range sp.ExtraHosts {
		hosts += h + "\n"
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil || sp.Network == "none" {
		resolv = nil
	}
	run, err := fs.runDir()
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"hosts": []byte(hosts), "resolv.conf": resolv} {
		src := filepath.Join(run, name)
		if err := os.WriteFile(src, data, 0o644); err != nil {
			return err
		}
		dst, err := fs.mountpoint("/etc/"+name, true)
		if err != nil {
			return fmt.Errorf("preparing /etc/%s: %w", name, err)
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding /etc/%s: %w", name, err)
		}
	}
	return nil
}

// mountUser mounts one RUN --mount.
func (fs *rootfs) mountUser(m Mount) error {
	switch m.Type {
	case MountTmpfs:
		dst, err := fs.mountpoint(m.Target, false)
		if err != nil {
			return err
		}
		opts := "mode=1777"
		if m.Size > 0 {
			opts += fmt.Sprintf(",size=%d", m.Size)
		}
		return unix.Mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts)
	case MountBind:
		if len(m.Lowers) > 0 {
			src, err := fs.unionSource(m)
			if err != nil {
				return err
			}
			m.Source = src
		}
		fi, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		src := m.Source
		if !m.ReadOnly {
			if src, err = fs.scratchView(m.Source, fi); err != nil {
				return fmt.Errorf("bind mount %s: %w", m.Target, err)
			}
		}
		dst, err := fs.mountpoint(m.Target, !fi.IsDir())
		if err != nil {
			return err
		}
		return bind(src, dst, m.ReadOnly)
	case MountCache:
		src, err := fs.prepareCache(m)
		if err != nil {
			return err
		}
		dst, err := fs.mountpoint(m.Target, false)
		if err != nil {
			return err
		}
		return bind(src, dst, m.ReadOnly)
	case MountSecret:
		src, err := fs.stageSecret(m)
		if err != nil {
			return err
		}
		dst, err := fs.mountpoint(m.Target, true)
		if err != nil {
			return err
		}
		return bind(src, dst, true)
	}
	return fmt.Errorf("unknown mount type %q", m.Type)
}

// unionSource mounts the read-only union of a bind mount's Lowers (a stage
// or image: RUN --mount=type=bind,from=…) in the state dir and returns the
// host path of Source inside it, resolved without leaving it.
func (fs *rootfs) unionSource(m Mount) (string, error) {
	fs.unions++
	dir := filepath.Join(fs.state, fmt.Sprintf("union%d", fs.unions))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if len(m.Lowers) == 1 {
		if err := bind(m.Lowers[0], dir, true); err != nil {
			return "", fmt.Errorf("binding layer: %w", err)
		}
	} else {
		names := make([]string, len(m.Lowers))
		for i, l := range m.Lowers {
			if strings.ContainsAny(l, ":,") {
				return "", fmt.Errorf("layer path %q contains ':' or ','", l)
			}
			names[len(m.Lowers)-1-i] = l
		}
		opts := "lowerdir=" + strings.Join(names, ":")
		if fs.rootless {
			opts += ",userxattr"
		}
		if err := unix.Mount("overlay", dir, "overlay", unix.MS_RDONLY, opts); err != nil {
			return "", fmt.Errorf("mounting layers of %s: %w", m.Source, err)
		}
	}
	fs.extraMounts = append(fs.extraMounts, dir)
	rootFd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(rootFd)
	rel := strings.TrimPrefix(filepath.Clean("/"+m.Source), "/")
	if rel == "" {
		return dir, nil
	}
	fd, err := unix.Openat2(rootFd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return "", fmt.Errorf("source %s: %w", m.Source, err)
	}
	defer unix.Close(fd)
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	if real != dir && !strings.HasPrefix(real, dir+"/") {
		return "", fmt.Errorf("source %s resolves outside its stage", m.Source)
	}
	return real, nil
}

// scratchView is a writable view of src for a rw bind mount: as in
// BuildKit, the step may write there and the writes go with the step,
// never to the source (the user's context, a stage). A directory gets an
// overlay with an upper dir in the step's state; a file, a copy.
func (fs *rootfs) scratchView(src string, fi os.FileInfo) (string, error) {
	fs.unions++
	base := filepath.Join(fs.state, fmt.Sprintf("rw%d", fs.unions))
	if err := os.Mkdir(base, 0o700); err != nil {
		return "", err
	}
	if !fi.IsDir() {
		view := filepath.Join(base, "file")
		return view, fsutil.CopyFile(src, view, fi.Mode().Perm())
	}
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			return "", err
		}
	}
	// The source path may hold ':' or ',', which lowerdir cannot: name it
	// by a link (overlayfs follows links in lowerdir).
	if err := os.Symlink(src, filepath.Join(base, "lower")); err != nil {
		return "", err
	}
	opts := "lowerdir=" + filepath.Join(base, "lower") + ",upperdir=" + filepath.Join(base, "upper") + ",workdir=" + filepath.Join(base, "work")
	if fs.rootless {
		opts += ",userxattr"
	}
	merged := filepath.Join(base, "merged")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		// Where overlayfs cannot be mounted (the copy-mode fallback), a
		// copy of the tree serves the same purpose, slower.
		copied := filepath.Join(base, "copy")
		if cerr := copyTree(src, copied); cerr != nil {
			return "", fmt.Errorf("making a writable view of %s: overlay: %v; copy: %w", src, err, cerr)
		}
		return copied, nil
	}
	fs.extraMounts = append(fs.extraMounts, merged)
	return merged, nil
}

// copyTree copies directories, regular files and symlinks from src to a
// new dst, keeping modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			return os.Mkdir(target, mode.Perm()|0o700)
		case mode&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case mode.IsRegular():
			return fsutil.CopyFile(p, target, mode.Perm())
		}
		return nil // devices, fifos, sockets: not copied
	})
}

func bind(src, dst string, ro bool) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if !ro {
		return nil
	}
	// A read-only remount must keep the flags a user namespace locked.
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY)
	for stf, msf := range map[int64]uintptr{unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV, unix.ST_NOEXEC: unix.MS_NOEXEC, unix.ST_NOATIME: unix.MS_NOATIME, unix.ST_NODIRATIME: unix.MS_NODIRATIME, unix.ST_RELATIME: unix.MS_RELATIME} {
		if st.Flags&stf != 0 {
			flags |= msf
		}
	}
	return unix.Mount("", dst, "", flags, "")
}

// maxPrivateCaches bounds the instances sharing=private makes of one cache;
// past it a step waits for one, as with sharing=locked.
const maxPrivateCaches = 16

// prepareCache returns the directory to mount for a cache mount, created
// on first use. sharing=locked holds the cache's lock for the whole step,
// so concurrent steps take turns. sharing=private, as in BuildKit, gives a
// step the cache when no other step holds it and otherwise another
// instance of it (SOURCE.private-N, kept for later steps), so concurrent
// steps never wait for each other nor see each other's writes.
func (fs *rootfs) prepareCache(m Mount) (string, error) {
	switch m.Sharing {
	case "locked":
		if err := fs.ensureCacheDir(m.Source, m); err != nil {
			return "", err
		}
		return m.Source, fs.lockCache(m.Source, true)
	case "private":
		for i := 0; i < maxPrivateCaches; i++ {
			src := m.Source
			if i > 0 {
				src = fmt.Sprintf("%s.private-%d", m.Source, i)
			}
			if err := fs.ensureCacheDir(src, m); err != nil {
				return "", err
			}
			if err := fs.lockCache(src, false); err == nil {
				return src, nil
			} else if !errors.Is(err, unix.EWOULDBLOCK) {
				return "", err
			}
		}
		return m.Source, fs.lockCache(m.Source, true)
	}
	return m.Source, fs.ensureCacheDir(m.Source, m)
}

// ensureCacheDir creates dir with the mount's owner and mode unless it
// exists; concurrent steps creating it at once end with one directory.
func (fs *rootfs) ensureCacheDir(dir string, m Mount) error {
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-cache-")
	if err != nil {
		return err
	}
	mode := m.Mode.Perm()
	if mode == 0 {
		mode = 0o755
	}
	if err := os.Chown(tmp, m.UID, m.GID); err != nil && !fs.rootless {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Remove(tmp) // another step created it first
	}
	return nil
}

// lockCache takes dir's lock for the rest of the step; without wait it
// fails with EWOULDBLOCK when another step holds it.
func (fs *rootfs) lockCache(dir string, wait bool) error {
	f, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	how := unix.LOCK_EX
	if !wait {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return err
	}
	fs.locks = append(fs.locks, f)
	return nil
}

// runDir returns a small tmpfs, private to this mount namespace, for the
// files the step gets bound in: /etc/hosts, /etc/resolv.conf and secrets.
// Secrets so never touch the disk, and the rest costs no disk writes.
func (fs *rootfs) runDir() (string, error) {
	if fs.secrets != "" {
		return fs.secrets, nil
	}
	dir := filepath.Join(fs.state, "run")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=8m"); err != nil {
		return "", fmt.Errorf("mounting state tmpfs: %w", err)
	}
	fs.secrets = dir
	return dir, nil
}

// stageSecret copies a secret into a tmpfs private to this mount namespace,
// so it is never on disk and never in the upper dir.
func (fs *rootfs) stageSecret(m Mount) (string, error) {
	run, err := fs.runDir()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(m.Source)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	f, err := os.CreateTemp(run, "secret-")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	mode := m.Mode.Perm()
	if mode == 0 {
		mode = 0o400
	}
	if err := os.Chown(f.Name(), m.UID, m.GID); err != nil && !fs.rootless {
		return "", err
	}
	if err := os.Chmod(f.Name(), mode); err != nil {
		return "", err
	}
	return f.Name(), nil
}
