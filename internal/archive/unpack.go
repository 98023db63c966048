package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/fsutil"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// UnpackOptions configure Unpack.
type UnpackOptions struct {
	// Owners keeps each entry's uid and gid (only when running as root),
	// as --output type=local does; otherwise files belong to the caller.
	Owners bool
}

// Unpack extracts the tar r into dir (created when missing): a build
// context sent as a tar, or an image's filesystem for --output type=local.
// Every operation goes through an os.Root of dir, so whatever the archive
// holds — "..", absolute names, a symlink to a host path followed by a
// file or directory of the same name or under it, a hard link to a link —
// nothing outside dir is ever written, chmodded, timestamped or followed.
// A later entry replaces an earlier one of the same name, never writing
// through it; entries under a symlink are refused. Devices, fifos and
// sockets are skipped.
func Unpack(ctx context.Context, r io.Reader, dir string, opts UnpackOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	u := NewUnpacker(root, opts.Owners)
	return WalkTar(ctx, r, func(h *tar.Header, name string, r io.Reader) error {
		if name == "" {
			return nil
		}
		_, err := u.Entry(h, name, r)
		return err
	}, func(err error) error { return err })
}

// WalkTar reads the tar r in order and calls fn for each entry with its
// cleaned name (fsutil.CleanTarName refuses ".." and the like) and a
// reader of its content; readErr wraps what the tar reader returns. It
// stops when ctx is done.
func WalkTar(ctx context.Context, r io.Reader, fn func(h *tar.Header, name string, r io.Reader) error, readErr func(error) error) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return readErr(err)
		}
		name, err := fsutil.CleanTarName(h.Name)
		if err != nil {
			return err
		}
		if err := fn(h, name, tr); err != nil {
			return err
		}
	}
}

// Unpacker writes tar entries under an os.Root, one at a time, under
// Unpack's rules; build's COPY --from uses it to stack layers (applying
// whiteouts itself).
type Unpacker struct {
	root   *os.Root
	owners bool
}

// NewUnpacker writes under root; owners keeps each entry's uid and gid
// (only when running as root).
func NewUnpacker(root *os.Root, owners bool) *Unpacker {
	return &Unpacker{root: root, owners: owners && os.Geteuid() == 0}
}

// Root is the directory the unpacker writes under.
func (u *Unpacker) Root() *os.Root { return u.root }

// Entry creates name (cleaned, relative to the root) from h and its
// content r; made is false for entry types it skips.
func (u *Unpacker) Entry(h *tar.Header, name string, r io.Reader) (made bool, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("tar entry %q: %w", h.Name, err)
		}
	}()
	if err := u.Parents(name); err != nil {
		return false, err
	}
	if fi, err := u.root.Lstat(name); err == nil {
		// Replace what is there (never write through it); an existing
		// directory stays when a directory entry comes again.
		if !(fi.IsDir() && h.Typeflag == tar.TypeDir) {
			if err := u.root.RemoveAll(name); err != nil {
				return false, err
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	mode := h.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	switch h.Typeflag {
	case tar.TypeDir:
		if err := u.root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return false, err
		}
		// Explicit: Mkdir's umask would drop bits; 0700 keeps it writable
		// for the entries that follow.
		mode |= 0o700
	case tar.TypeReg:
		f, err := u.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return false, err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, err
		}
	case tar.TypeSymlink:
		if err := u.root.Symlink(h.Linkname, name); err != nil {
			return false, err
		}
	case tar.TypeLink:
		target, err := fsutil.CleanTarName(h.Linkname)
		if err != nil || target == "" {
			return false, fmt.Errorf("hard link to %q, outside the archive", h.Linkname)
		}
		if err := u.Parents(target); err != nil {
			return false, err
		}
		// link(2) does not follow a symlink target: a link to a link is
		// a second name of the link, never of what it points at.
		if err := u.root.Link(target, name); err != nil {
			return false, fmt.Errorf("hard link to %q: %w", h.Linkname, err)
		}
		return true, nil // it shares its target's owner, mode and times
	default:
		return false, nil
	}
	if u.owners {
		if err := u.root.Lchown(name, h.Uid, h.Gid); err != nil {
			return false, err
		}
	}
	if h.Typeflag == tar.TypeSymlink {
		return true, nil
	}
	// Chmod after chown, which clears setuid bits. name is a directory
	// or a file just made (not a link), so nothing is followed.
	if err := u.root.Chmod(name, mode); err != nil {
		return false, err
	}
	if h.Typeflag == tar.TypeReg {
		if err := u.root.Chtimes(name, h.ModTime, h.ModTime); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Parents creates the missing parent directories of name and refuses a
// parent that is not a directory (a symlink above an entry is how an
// archive writes somewhere else).
func (u *Unpacker) Parents(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	cur := ""
	for _, c := range strings.Split(dir, "/") {
		cur = path.Join(cur, c)
		fi, err := u.root.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			if err := u.root.Mkdir(cur, 0o755); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s passes through the symlink %s", name, cur)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is under %s, which is not a directory", name, cur)
		}
	}
	return nil
}
