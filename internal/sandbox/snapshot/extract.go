package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
	"golang.org/x/sys/unix"
)

// OCI whiteout names (image-spec layer.md).
const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh..opq"
)

// Extract unpacks the uncompressed layer tar r into the empty directory dir in
// overlay lower-layer form. Every entry is checked before it touches disk: its
// name must stay inside dir, no parent may be a symlink, hard links must point
// at an earlier regular entry. Ownership is kept when running as root and
// dropped (left to the caller's uid) otherwise; device nodes are skipped when
// they cannot be created without privilege.
func Extract(ctx context.Context, dir string, r io.Reader) error {
	rootFd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer unix.Close(rootFd)
	x := &extractor{root: dir, rootFd: rootFd, privileged: os.Geteuid() == 0}
	// The same rules as import and build check, before anything touches
	// disk; the openat2 calls below enforce them again.
	check := fsutil.LayerChecker{Whiteouts: true}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layer tar: %w", err)
		}
		if _, err := check.Check(hdr); err != nil {
			return fmt.Errorf("refusing layer: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			var bad badName
			if errors.As(err, &bad) {
				return fmt.Errorf("refusing layer: %w", bad.error) // it names the entry
			}
			return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	// Directory modes and times last: creating children changed the times,
	// and a read-only directory (0555) would stop an unprivileged unpack
	// from creating them.
	for i := len(x.dirTimes) - 1; i >= 0; i-- {
		d := x.dirTimes[i]
		if err := unix.Fchmodat(rootFd, d.name, d.mode, 0); err != nil {
			return fmt.Errorf("layer entry %q: %w", d.name, err)
		}
		ts := []unix.Timespec{unix.NsecToTimespec(d.atime.UnixNano()), unix.NsecToTimespec(d.mtime.UnixNano())}
		_ = unix.UtimesNanoAt(rootFd, d.name, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

type dirTime struct {
	name         string
	mode         uint32
	atime, mtime time.Time
}

type extractor struct {
	root       string
	rootFd     int
	privileged bool
	dirTimes   []dirTime
}

// badName is a name fsutil.CleanTarName refused; its text names the entry.
type badName struct{ error }

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := fsutil.CleanTarName(hdr.Name)
	if err != nil {
		return badName{err}
	}
	if name == "" {
		return nil // the root's metadata belongs to the image, not one layer
	}
	parent, base := path.Dir(name), path.Base(name)
	if parent == "." {
		parent = ""
	}
	pfd, err := x.openDir(parent, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	if base == whOpaque {
		return x.setOpaque(parent)
	}
	if strings.HasPrefix(base, whPrefix) {
		target := strings.TrimPrefix(base, whPrefix)
		if target == "" || target == "." || target == ".." {
			return errors.New("invalid whiteout name")
		}
		if err := x.removeExisting(pfd, parent, target); err != nil {
			return err
		}
		return unix.Mknodat(pfd, target, unix.S_IFCHR, 0)
	}

	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if !(hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
			if err := x.removeExisting(pfd, parent, base); err != nil {
				return err
			}
		}
	}

	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		x.dirTimes = append(x.dirTimes, dirTime{name: name, mode: mode, atime: hdr.AccessTime, mtime: hdr.ModTime})
	case tar.TypeReg: // the reader reports old-style TypeRegA entries as TypeReg
		fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), name)
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := fsutil.CleanTarName(hdr.Linkname)
		if err != nil || target == "" {
			return fmt.Errorf("hard link target %q is outside the layer", hdr.Linkname)
		}
		tdir, tbase := path.Dir(target), path.Base(target)
		if tdir == "." {
			tdir = ""
		}
		tfd, err := x.openDir(tdir, false)
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		var ts unix.Stat_t
		if err := unix.Fstatat(tfd, tbase, &ts, unix.AT_SYMLINK_NOFOLLOW); err != nil || ts.Mode&unix.S_IFMT == unix.S_IFDIR {
			unix.Close(tfd)
			return fmt.Errorf("hard link target %q is not an earlier file of the layer", hdr.Linkname)
		}
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
		unix.Close(tfd)
		return err // a link shares its target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, kind|mode, int(dev)); err != nil {
			if errors.Is(err, unix.EPERM) {
				return nil // rootless (even as root of a user namespace): devices cannot be made; /dev is provided at run time
			}
			return err
		}
	default:
		return nil // pax/gnu metadata the tar reader did not fold in: nothing to create
	}
	return x.meta(pfd, name, base, hdr, mode)
}

func (x *extractor) meta(pfd int, name, base string, hdr *tar.Header, mode uint32) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		// EINVAL: an id outside a user namespace's mapping; the file stays
		// with the caller, as in any rootless unpack.
		if x.privileged && !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	for k, v := range hdr.PAXRecords {
		key, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || strings.HasPrefix(key, "trusted.overlay.") || strings.HasPrefix(key, "user.overlay.") {
			continue // a layer must not steer overlayfs
		}
		if err := unix.Lsetxattr(filepath.Join(x.root, name), key, []byte(v), 0); err != nil && x.privileged && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("setting xattr %s: %w", key, err)
		}
	}
	if hdr.Typeflag == tar.TypeDir {
		mode = 0o700 // the real mode is set at the end
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return err
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		ts := []unix.Timespec{unix.NsecToTimespec(hdr.AccessTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		if hdr.AccessTime.IsZero() {
			ts[0] = ts[1]
		}
		_ = unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

// openDir opens the directory rel (relative to the root) without following
// any symlink and without leaving the root, creating missing components
// (0755) when create is set.
func (x *extractor) openDir(rel string, create bool) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	if rel == "" {
		return unix.Openat2(x.rootFd, ".", how)
	}
	fd, err := unix.Openat2(x.rootFd, rel, how)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV) {
			return -1, fmt.Errorf("parent %q is not a directory inside the layer", rel)
		}
		return fd, err
	}
	cur, err := unix.Openat2(x.rootFd, ".", how)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(rel, "/") {
		if err := unix.Mkdirat(cur, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(cur)
			return -1, err
		}
		next, err := unix.Openat2(cur, c, how)
		unix.Close(cur)
		if err != nil {
			return -1, fmt.Errorf("parent %q is not a directory inside the layer", rel)
		}
		cur = next
	}
	return cur, nil
}

func (x *extractor) removeExisting(pfd int, parent, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.Unlinkat(pfd, base, 0)
	}
	// The parent was opened without symlinks just now, so this path is inside.
	return fsutil.RemoveAll(filepath.Join(x.root, parent, base))
}

func (x *extractor) setOpaque(rel string) error {
	p := filepath.Join(x.root, rel)
	if err := unix.Lsetxattr(p, "user.overlay.opaque", []byte("y"), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
		return fmt.Errorf("marking %q opaque: %w", rel, err)
	}
	if x.privileged {
		// EPERM: root of a user namespace, which mounts with userxattr.
		if err := unix.Lsetxattr(p, "trusted.overlay.opaque", []byte("y"), 0); err != nil && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("marking %q opaque: %w", rel, err)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context) error {
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
