package sandbox

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/fsutil"
	"golang.org/x/sys/unix"
)

// copyLayer applies one unpacked lower layer (overlay form: 0/0 character
// devices are whiteouts, the overlay.opaque xattr marks opaque directories)
// onto the tree at dst. Used only by the copy fallback.
func copyLayer(ctx context.Context, src, dst string, rootless bool) error {
	type dirMeta struct {
		path string
		st   unix.Stat_t
	}
	var dirs []dirMeta
	links := map[uint64]string{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		kind := st.Mode & unix.S_IFMT
		if kind == unix.S_IFCHR && st.Rdev == 0 {
			return fsutil.RemoveAll(target)
		}
		var old unix.Stat_t
		exists := unix.Lstat(target, &old) == nil
		if exists && (kind != unix.S_IFDIR || old.Mode&unix.S_IFMT != unix.S_IFDIR || isOpaqueDir(p)) {
			if err := fsutil.RemoveAll(target); err != nil {
				return err
			}
			exists = false
		}
		switch kind {
		case unix.S_IFDIR:
			if !exists {
				if err := os.Mkdir(target, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMeta{target, st})
			return nil
		case unix.S_IFREG:
			if st.Nlink > 1 {
				if first, ok := links[st.Ino]; ok {
					return os.Link(first, target)
				}
				links[st.Ino] = target
			}
			if err := copyFile(p, target); err != nil {
				return err
			}
		case unix.S_IFLNK:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, target); err != nil {
				return err
			}
		default:
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				if rootless && errors.Is(err, unix.EPERM) {
					return nil
				}
				return err
			}
		}
		return applyMeta(target, &st, rootless)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := applyMeta(dirs[i].path, &dirs[i].st, rootless); err != nil {
			return err
		}
	}
	return nil
}

func applyMeta(p string, st *unix.Stat_t, rootless bool) error {
	if err := unix.Lchown(p, int(st.Uid), int(st.Gid)); err != nil && !rootless {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Chmod(p, st.Mode&0o7777); err != nil {
			return err
		}
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in) // copy_file_range: reflinks where the fs can
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func isOpaqueDir(p string) bool {
	buf := make([]byte, 4)
	for _, k := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Lgetxattr(p, k, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}
