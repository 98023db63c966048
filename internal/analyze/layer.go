package analyze

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Limits bound what one hostile layer can make the analysis hold in memory.
// The zero value means the defaults.
type Limits struct {
	MaxEntries  int // entries per layer (default 5,000,000)
	MaxPathLen  int // bytes per entry name (default 4096, Linux's PATH_MAX)
	MaxWarnings int // warnings kept per layer (default 20)
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = 5_000_000
	}
	if l.MaxPathLen <= 0 {
		l.MaxPathLen = 4096
	}
	if l.MaxWarnings <= 0 {
		l.MaxWarnings = 20
	}
	return l
}

// Layer is one layer of the image as data.
type Layer struct {
	Index     int    `json:"index"`
	Digest    string `json:"digest,omitempty"` // blob digest, when the source knows it cheaply
	DiffID    string `json:"diffId,omitempty"`
	CreatedBy string `json:"createdBy"`
	Command   string `json:"command"`   // CreatedBy without "/bin/sh -c ", as dive shows it
	Size      int64  `json:"sizeBytes"` // sum of the entries' sizes (dive's layer size)
	Files     int    `json:"fileCount"` // tar entries, whiteouts included
	// Opaque lists directories this layer made opaque (".wh..wh..opq").
	Opaque []string `json:"opaqueDirs,omitempty"`
	// Warnings name hostile or odd entries, analyzed as data anyway.
	Warnings []string `json:"warnings,omitempty"`

	// Root is the layer's own tree, whiteouts kept as ".wh.NAME" nodes.
	Root *Node `json:"-"`
	// whiteouts are the paths this layer deletes, kept so that views need
	// not walk the whole tree to find them.
	whiteouts []string
}

// ErrTooManyEntries is returned when a layer has more entries than Limits allow.
var ErrTooManyEntries = errors.New("too many entries in layer")

// ReadLayer reads an uncompressed layer tar from r once, hashing each
// regular file's content as it streams past, and returns the layer's tree.
// Nothing is written to disk and no file content is kept.
func ReadLayer(ctx context.Context, r io.Reader, lim Limits) (*Layer, error) {
	lim = lim.withDefaults()
	l := &Layer{Root: newRoot()}
	tr := newTarReader(r)
	buf := make([]byte, 128<<10)
	h := xxhash.New()
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e, err := tr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading layer tar entry %d: %w", n+1, err)
		}
		if n >= lim.MaxEntries {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyEntries, lim.MaxEntries)
		}
		if len(e.Name) > lim.MaxPathLen {
			l.warn(lim, "entry name of %d bytes skipped (longer than %d)", len(e.Name), lim.MaxPathLen)
			continue
		}
		name := path.Clean(e.Name)
		if name == "." || name == "/" {
			continue
		}
		info := FileInfo{
			Type:     e.Type,
			Linkname: e.Linkname,
			Mode:     fileMode(e.Type, e.Mode),
			UID:      e.UID,
			GID:      e.GID,
		}
		// dive asks the mode, which a crafted header can set apart from the type.
		info.IsDir = info.Mode.IsDir()
		switch e.Type {
		case tar.TypeReg, tar.TypeGNUSparse:
			// Only a regular file's size is backed by bytes in the stream;
			// trusting the header of a link or device would let a crafted
			// layer claim exabytes.
			info.Size = e.Size
			h.Reset()
			if _, err := io.CopyBuffer(h, tr, buf); err != nil {
				return nil, fmt.Errorf("reading %s in layer tar: %w", name, err)
			}
			info.Hash = h.Sum64()
		case tar.TypeSymlink, tar.TypeLink:
			info.Hash = xxhash.Sum64String(e.Linkname)
		}
		l.checkHostile(lim, name, e)
		l.Files++
		l.Size += info.Size
		base := path.Base(name)
		if base == opaqueMarker {
			l.Opaque = append(l.Opaque, "/"+strings.TrimPrefix(path.Dir(name), "/"))
		} else if strings.HasPrefix(base, whiteoutPrefix) && !strings.HasPrefix(base, metaPrefix) {
			l.whiteouts = append(l.whiteouts, path.Join("/", path.Dir(name), base[len(whiteoutPrefix):]))
		}
		// Like dive, the marker itself never enters the tree but its parents do.
		addPath(l.Root, name, info, true)
	}
	return l, nil
}

// checkHostile records entries that would be dangerous to extract: they are
// still analyzed, under the path they name.
func (l *Layer) checkHostile(lim Limits, name string, hdr *tarEntry) {
	if name == ".." || strings.HasPrefix(name, "../") {
		l.warn(lim, "entry %q points outside the layer root", hdr.Name)
	}
	if hdr.Type == tar.TypeLink {
		t := path.Clean(strings.TrimPrefix(hdr.Linkname, "/"))
		if t == ".." || strings.HasPrefix(t, "../") {
			l.warn(lim, "hard link %q points outside the layer root (%q)", hdr.Name, hdr.Linkname)
		}
	}
	if hdr.Type == tar.TypeSymlink {
		// An absolute target resolves inside the image's root; a relative one
		// escapes when it climbs above the directory tree it sits in.
		t := path.Join(strings.TrimPrefix(path.Dir(name), "/"), hdr.Linkname)
		if !strings.HasPrefix(hdr.Linkname, "/") && (t == ".." || strings.HasPrefix(t, "../")) {
			l.warn(lim, "symlink %q points outside the layer root (%q)", hdr.Name, hdr.Linkname)
		}
	}
}

// fileMode turns a header's mode into an os.FileMode as archive/tar's
// FileInfo does, so modes compare and print like dive's.
func fileMode(typ byte, m int64) os.FileMode {
	mode := os.FileMode(m).Perm()
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	switch os.FileMode(m) &^ 0o7777 {
	case 0o40000:
		mode |= os.ModeDir
	case 0o10000:
		mode |= os.ModeNamedPipe
	case 0o120000:
		mode |= os.ModeSymlink
	case 0o60000:
		mode |= os.ModeDevice
	case 0o20000:
		mode |= os.ModeDevice | os.ModeCharDevice
	case 0o140000:
		mode |= os.ModeSocket
	}
	switch typ {
	case tar.TypeDir:
		mode |= os.ModeDir
	case tar.TypeSymlink:
		mode |= os.ModeSymlink
	case tar.TypeChar:
		mode |= os.ModeDevice | os.ModeCharDevice
	case tar.TypeBlock:
		mode |= os.ModeDevice
	case tar.TypeFifo:
		mode |= os.ModeNamedPipe
	}
	return mode
}

func (l *Layer) warn(lim Limits, format string, args ...any) {
	if len(l.Warnings) < lim.MaxWarnings {
		l.Warnings = append(l.Warnings, fmt.Sprintf(format, args...))
	}
}
