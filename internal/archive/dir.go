package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
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
	var ents []dataEntry
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
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
			_, _, _, err = l.header(hdr)
			return err
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
			kind, clean, want, err := l.header(hdr)
			if err != nil {
				return err
			}
			open := func() (io.ReadCloser, error) {
				f, err := root.Open(name)
				if err != nil {
					return nil, err
				}
				return struct {
					io.Reader
					io.Closer
				}{&exactReader{r: f, n: hdr.Size}, f}, nil
			}
			switch kind {
			case kindMeta:
				rc, err := open()
				if err != nil {
					return err
				}
				defer rc.Close()
				b, err := io.ReadAll(rc)
				if err != nil {
					return fmt.Errorf("reading %s: %w", clean, truncated(err))
				}
				return l.addMeta(clean, b)
			case kindData:
				ents = append(ents, dataEntry{name: clean, size: hdr.Size, want: want, open: open})
			}
			return nil
		default:
			return fmt.Errorf("refusing %s: %s is not a regular file, directory or link", dir, untrusted.Quote(name))
		}
	})
	if err != nil {
		return nil, err
	}
	return l.storeNeeded(ctx, ents)
}
