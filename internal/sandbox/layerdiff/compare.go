package layerdiff

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// Snapshot records the state of a directory tree before a command runs.
type Snapshot struct {
	files    map[string]unix.Stat_t
	children map[string][]string // dir -> names, sorted
	born     map[string]int64    // dir -> birth time (ns); inode numbers get reused
}

// birth returns a directory's creation time, 0 where the fs has none.
func birth(p string) int64 {
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &sx); err != nil || sx.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return sx.Btime.Sec*1e9 + int64(sx.Btime.Nsec)
}

func sortStrings(s []string) { sort.Strings(s) }

// Scan records the tree at root for a later Compare.
func Scan(ctx context.Context, root string) (*Snapshot, error) {
	s := &Snapshot{files: map[string]unix.Stat_t{}, children: map[string][]string{}, born: map[string]int64{}}
	var walk func(dir string) error
	walk = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		names, err := readDir(filepath.Join(root, dir))
		if err != nil {
			return err
		}
		s.children[dir] = names
		for _, name := range names {
			rel := join(dir, name)
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(root, rel), &st); err != nil {
				return err
			}
			s.files[rel] = st
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				s.born[rel] = birth(filepath.Join(root, rel))
				if err := walk(rel); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	}
	return s, nil
}

// changed reports whether a path present before differs now. Directories
// compare without ctime, which mount-point bookkeeping touches; files also
// compare ctime, which catches content rewritten with the old mtime.
func changed(a, b *unix.Stat_t) bool {
	if a.Ino != b.Ino || a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Mtim != b.Mtim {
		return true
	}
	if a.Mode&unix.S_IFMT == unix.S_IFDIR {
		return false
	}
	return a.Size != b.Size || a.Ctim != b.Ctim || a.Rdev != b.Rdev
}

// Compare writes the differences between before and the tree now at root as
// an OCI layer tar, in the same form Overlay gives.
func Compare(ctx context.Context, w io.Writer, root string, before *Snapshot) error {
	var items []item
	if _, err := walkCompare(root, before, "", true, &items); err != nil {
		return fmt.Errorf("comparing changes: %w", err)
	}
	return writeItems(ctx, w, root, items)
}

// walkCompare appends the items for the children of dir. existed says dir is
// the same directory as before (not new or replaced), so deletions in it need
// whiteouts.
func walkCompare(root string, before *Snapshot, dir string, existed bool, items *[]item) (bool, error) {
	names, err := readDir(filepath.Join(root, dir))
	if err != nil {
		return false, err
	}
	all := names
	if existed {
		all = mergeNames(names, before.children[dir])
	}
	now := map[string]bool{}
	for _, n := range names {
		now[n] = true
	}
	any := false
	for _, name := range all {
		rel := join(dir, name)
		old, had := before.files[rel]
		if !existed {
			had = false
		}
		if !now[name] {
			*items = append(*items, item{rel: rel, kind: kindWhiteout, st: old})
			any = true
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, rel), &st); err != nil {
			return false, err
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if !isDir {
			if !had || changed(&old, &st) {
				*items = append(*items, item{rel: rel, st: st})
				any = true
			}
			continue
		}
		same := had && old.Mode&unix.S_IFMT == unix.S_IFDIR && old.Ino == st.Ino && before.born[rel] == birth(filepath.Join(root, rel))
		*items = append(*items, item{rel: rel, st: st})
		at := len(*items)
		replaced := had && old.Mode&unix.S_IFMT == unix.S_IFDIR && !same
		if replaced {
			*items = append(*items, item{rel: rel, kind: kindOpaque, st: st})
		}
		sub, err := walkCompare(root, before, rel, same, items)
		if err != nil {
			return false, err
		}
		if !sub && same && !changed(&old, &st) {
			*items = (*items)[:at-1]
			continue
		}
		any = true
	}
	return any, nil
}

func mergeNames(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
