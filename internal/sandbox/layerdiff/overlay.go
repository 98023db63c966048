package layerdiff

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// Overlay writes the changes recorded in an overlayfs upper directory as an
// OCI layer tar. lowers (bottom first) are consulted only to drop directories
// that overlayfs copied up without any change (same mode, owner and mtime, no
// changed children), which happens when a mount point was made and removed.
// The overlay must be unmounted.
func Overlay(ctx context.Context, w io.Writer, upper string, lowers []string) error {
	var items []item
	if _, err := walkUpper(upper, lowers, "", &items); err != nil {
		return fmt.Errorf("reading changes: %w", err)
	}
	return writeItems(ctx, w, upper, items)
}

// walkUpper appends the items for the children of dir and reports whether it
// appended any.
func walkUpper(upper string, lowers []string, dir string, items *[]item) (bool, error) {
	names, err := readDir(filepath.Join(upper, dir))
	if err != nil {
		return false, err
	}
	any := false
	for _, name := range names {
		rel := join(dir, name)
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(upper, rel), &st); err != nil {
			return false, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			*items = append(*items, item{rel: rel, kind: kindWhiteout, st: st})
			any = true
			continue
		}
		*items = append(*items, item{rel: rel, st: st})
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			any = true
			continue
		}
		at := len(*items)
		opaque := isOpaque(filepath.Join(upper, rel))
		if opaque {
			*items = append(*items, item{rel: rel, kind: kindOpaque, st: st})
		}
		sub, err := walkUpper(upper, lowers, rel, items)
		if err != nil {
			return false, err
		}
		if !sub && !opaque && copiedUp(lowers, rel, &st) {
			*items = slices.Delete(*items, at-1, at)
			continue
		}
		any = true
	}
	return any, nil
}

func isOpaque(p string) bool {
	buf := make([]byte, 4)
	for _, k := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Lgetxattr(p, k, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// copiedUp reports whether the topmost lower copy of rel is a directory with
// the same metadata as st.
func copiedUp(lowers []string, rel string, st *unix.Stat_t) bool {
	for i := len(lowers) - 1; i >= 0; i-- {
		var l unix.Stat_t
		if err := unix.Lstat(filepath.Join(lowers[i], rel), &l); err != nil {
			continue
		}
		return l.Mode == st.Mode && l.Uid == st.Uid && l.Gid == st.Gid && l.Mtim == st.Mtim
	}
	return false
}
