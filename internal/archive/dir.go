package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadDir reads an unpacked archive — an OCI image layout directory such as
// skopeo's oci: or an extracted docker save — exactly as Load reads the tar
// of it: every file is an entry, checked and verified the same way. Files
// are opened through an os.Root, so no link can lead outside dir.
func LoadDir(ctx context.Context, dir string, sink Sink, opts LoadOptions) ([]Loaded, error) {
	l := newLoader(sink, opts)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	defer root.Close()
	br := bufio.NewReaderSize(nil, 64<<10)
	gctx := l.begin(ctx)
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := gctx.Err(); err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		hdr := &tar.Header{Name: name}
		switch t := d.Type(); {
		case t.IsDir():
			return nil
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
			return l.entry(gctx, hdr, nil, br)
		case t.IsRegular():
			f, err := root.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
			return l.entry(gctx, hdr, f, br)
		default:
			return fmt.Errorf("refusing %s: %q is not a regular file, directory or link", dir, name)
		}
	})
	if err := l.finish(err); err != nil {
		return nil, err
	}
	return l.resolve(ctx)
}
