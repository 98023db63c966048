package fsutil

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"

	"github.com/berth-dev/berth/internal/untrusted"
)

// Linux's limits on what a path may be (PATH_MAX with its NUL, NAME_MAX).
const (
	maxPath      = 4095
	maxComponent = 255
)

// LayerChecker checks the entries of a layer or root-filesystem tar, in
// order, by the rules berth's unpacker (sandbox/snapshot.Extract) enforces
// on disk, so that what writes or accepts a layer (import, build) refuses at
// once, naming the entry, what unpacking it would refuse later:
//
//   - names as CleanTarName has them (no "..", no NUL), at most 4095 bytes,
//     each component at most 255;
//   - nothing below a symlink or a file: a link "etc" to "/etc" followed by
//     "etc/passwd" would write through the link;
//   - a hard link names an earlier entry of this tar that is not a
//     directory, reached without symlinks;
//   - OCI whiteouts (".wh.NAME", ".wh..wh..opq") only where Whiteouts allows
//     them, and never with an empty, "." or ".." NAME.
//
// The zero value checks a root filesystem (no whiteouts). One checker reads
// one tar; it is not safe for concurrent use.
type LayerChecker struct {
	// Whiteouts allows OCI whiteouts: a layer above others may delete what
	// they hold; a root filesystem (import) has nothing to delete.
	Whiteouts bool

	seen map[string]byte // clean name → kind of its latest entry: dir, link or file
}

const (
	kindDir     = 'd'
	kindSymlink = 'l'
	kindFile    = 'f' // anything else that is not a directory
)

// OCI whiteout names (image-spec layer.md).
const (
	WhiteoutPrefix = ".wh."
	WhiteoutOpaque = ".wh..wh..opq"
)

// Check checks the next entry and returns its clean name ("" for the root
// itself). The error names the entry and says what is wrong with it.
func (c *LayerChecker) Check(hdr *tar.Header) (string, error) {
	if c.seen == nil {
		c.seen = map[string]byte{}
	}
	name, err := CleanTarName(hdr.Name)
	if err != nil || name == "" {
		return name, err
	}
	q := untrusted.Quote(hdr.Name)
	if len(name) > maxPath {
		return "", fmt.Errorf("entry %s: its path is %d bytes, more than Linux allows (%d)", q, len(name), maxPath)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if len(seg) > maxComponent {
			return "", fmt.Errorf("entry %s: a component of its path is %d bytes, more than Linux allows (%d)", q, len(seg), maxComponent)
		}
	}
	if err := c.reachable(name); err != nil {
		return "", fmt.Errorf("entry %s: %w", q, err)
	}
	dir, base := path.Split(name)
	if base == WhiteoutOpaque {
		if !c.Whiteouts {
			return "", fmt.Errorf("entry %s is an OCI whiteout (%s), which a root filesystem cannot hold", q, WhiteoutOpaque)
		}
		return name, nil
	}
	if victim, ok := strings.CutPrefix(base, WhiteoutPrefix); ok {
		if !c.Whiteouts {
			return "", fmt.Errorf("entry %s is an OCI whiteout (a name starting with %s), which a root filesystem cannot hold", q, WhiteoutPrefix)
		}
		if victim == "" || victim == "." || victim == ".." {
			return "", fmt.Errorf("entry %s is an invalid whiteout name", q)
		}
		c.record(dir+victim, kindFile) // the unpacker leaves a 0/0 device there
		return name, nil
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		c.record(name, kindDir)
	case tar.TypeSymlink:
		if len(hdr.Linkname) > maxPath {
			return "", fmt.Errorf("entry %s: its symlink target is %d bytes, more than Linux allows (%d)", q, len(hdr.Linkname), maxPath)
		}
		c.record(name, kindSymlink)
	case tar.TypeLink:
		target, err := CleanTarName(hdr.Linkname)
		if err != nil || target == "" {
			return "", fmt.Errorf("entry %s: hard link target %s is outside the layer", q, untrusted.Quote(hdr.Linkname))
		}
		if err := c.reachable(target); err != nil {
			return "", fmt.Errorf("entry %s: hard link target %s: %w", q, untrusted.Quote(hdr.Linkname), err)
		}
		if k, ok := c.seen[target]; !ok || k == kindDir {
			return "", fmt.Errorf("entry %s: hard link target %s is not an earlier file of the layer", q, untrusted.Quote(hdr.Linkname))
		}
		c.record(name, kindFile)
	case tar.TypeReg, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		c.record(name, kindFile)
	}
	return name, nil
}

// reachable refuses a name whose parent, as the entries so far leave the
// tree, is a symlink or a file: writing it would follow the link (out of
// the layer) or fail.
func (c *LayerChecker) reachable(name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		switch c.seen[name[:i]] {
		case kindSymlink:
			return fmt.Errorf("parent %s is not a directory inside the layer (it is a symlink)", untrusted.Quote(name[:i]))
		case kindFile:
			return fmt.Errorf("parent %s is not a directory inside the layer (it is a file)", untrusted.Quote(name[:i]))
		}
	}
	return nil
}

// record notes what name now is. A directory replaced by something else
// takes what was below it along, as unpacking does.
func (c *LayerChecker) record(name string, kind byte) {
	if old, ok := c.seen[name]; ok && old == kindDir && kind != kindDir {
		prefix := name + "/"
		for k := range c.seen {
			if strings.HasPrefix(k, prefix) {
				delete(c.seen, k)
			}
		}
	}
	c.seen[name] = kind
}
