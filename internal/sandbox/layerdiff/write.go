package layerdiff

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type kind int

const (
	kindEntry    kind = iota // a file, dir, link or node that exists in the new tree
	kindWhiteout             // ".wh.<name>": name was deleted
	kindOpaque               // "<dir>/.wh..wh..opq": dir hides everything below it
)

// item is one tar entry to write, in order.
type item struct {
	rel  string // path relative to the tree root, no leading or trailing slash
	kind kind
	st   unix.Stat_t
}

type inode struct{ dev, ino uint64 }

// writeItems writes items as a tar; content and link targets are read from
// root. Hard links are detected by inode among the written entries.
func writeItems(ctx context.Context, w io.Writer, root string, items []item) error {
	tw := tar.NewWriter(w)
	links := map[inode]string{}
	buf := make([]byte, 1<<20)
	for i, it := range items {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		hdr, err := header(root, it, links)
		if err != nil {
			return err
		}
		if hdr == nil {
			continue // a socket: tar cannot hold one, and Docker drops them too
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing layer entry %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(filepath.Join(root, it.rel))
			if err != nil {
				return fmt.Errorf("reading %s: %w", it.rel, err)
			}
			n, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
			f.Close()
			if err == nil && n != hdr.Size {
				err = fmt.Errorf("file changed size while being read")
			}
			if err != nil {
				return fmt.Errorf("writing layer entry %s: %w", it.rel, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing layer: %w", err)
	}
	return nil
}

// epoch stamps whiteout and opaque markers: they carry no content, and a fixed
// time keeps the overlay and the copy fallback byte-identical.
var epoch = time.Unix(0, 0)

func timespec(ts unix.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }

func header(root string, it item, links map[inode]string) (*tar.Header, error) {
	st := &it.st
	switch it.kind {
	case kindWhiteout:
		dir, base := path.Split(it.rel)
		return &tar.Header{Typeflag: tar.TypeReg, Name: dir + ".wh." + base, Format: tar.FormatPAX, ModTime: epoch}, nil
	case kindOpaque:
		return &tar.Header{Typeflag: tar.TypeReg, Name: it.rel + "/.wh..wh..opq", Format: tar.FormatPAX, ModTime: epoch}, nil
	}
	full := filepath.Join(root, it.rel)
	hdr := &tar.Header{
		Name:    it.rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: timespec(st.Mtim),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFREG:
		if st.Nlink > 1 {
			key := inode{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				return hdr, nil
			}
			links[key] = it.rel
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
	case unix.S_IFLNK:
		target, err := os.Readlink(full)
		if err != nil {
			return nil, fmt.Errorf("reading link %s: %w", it.rel, err)
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFSOCK:
		return nil, nil
	}
	if x := xattrs(full); len(x) > 0 {
		hdr.PAXRecords = x
	}
	return hdr, nil
}

// xattrs returns the extended attributes worth keeping in a layer as PAX
// records; overlayfs' own bookkeeping is dropped.
func xattrs(p string) map[string]string {
	buf := make([]byte, 1024)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return nil
	}
	var out map[string]string
	for _, name := range bytes.Split(buf[:n], []byte{0}) {
		k := string(name)
		if k == "" || strings.HasPrefix(k, "trusted.overlay.") || strings.HasPrefix(k, "user.overlay.") || strings.HasPrefix(k, "security.selinux") {
			continue
		}
		val := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, k, val)
		if err != nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out["SCHILY.xattr."+k] = string(val[:m])
	}
	return out
}

// readDir lists a directory's names in lexical byte order.
func readDir(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sortStrings(names)
	return names, nil
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
