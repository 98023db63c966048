package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// needs is what an archive's descriptors say it holds, learnt as its
// metadata and manifests are read: the archive paths of the blobs the
// images reach, each with the size its descriptor declares. Load stores
// only what is needed, refuses an entry whose tar header contradicts its
// descriptor before storing a byte of it, and bounds what it stores before
// it knows (see specBudget).
//
// From a file or a directory, every header and every manifest is read
// first, so needs is complete before the first blob is stored. From a
// stream it grows: index.json names the roots, and each manifest or index
// the roots reach names its children once its own bytes are stored and
// verified.
type needs struct {
	want     map[string]int64        // archive path → declared size; unknownSize for manifest.json's paths
	pending  map[v1.Hash]pendingDesc // reached manifests and indexes whose content is not read yet
	expanded map[v1.Hash]bool        // manifests and indexes whose children are in want
	links    map[string]string       // link entries seen so far, to follow wanted paths through
	index    bool                    // index.json was read: it names every root, or manifest.json does
	indexed  int                     // how many roots index.json names
	manifest bool                    // manifest.json was read
	final    bool                    // nothing more can be learnt (random access: everything was read)
}

const unknownSize = -1

// pendingDesc is a descriptor reached but not yet expanded.
type pendingDesc struct {
	d     v1.Descriptor
	depth int
}

func newNeeds() *needs {
	return &needs{want: map[string]int64{}, pending: map[v1.Hash]pendingDesc{}, expanded: map[v1.Hash]bool{}, links: map[string]string{}}
}

// complete reports whether needs names everything the archive can need, so
// that an entry it does not want can be skipped: after index.json (which
// then names the roots; manifest.json only adds names) and every manifest
// and index it reaches.
//
// Docker 25 leaves images saved by ID out of index.json ("manifests":
// null) and lists them in manifest.json only, so an index that names
// nothing is complete only with manifest.json.
func (n *needs) complete() bool {
	return n.final || n.index && len(n.pending) == 0 && (n.indexed > 0 || n.manifest)
}

// lookup says whether the entry at name is needed and what size its
// descriptor declares (unknownSize when none does).
func (n *needs) lookup(name string) (size int64, ok bool) {
	size, ok = n.want[name]
	return size, ok
}

// mark records that path is needed with size, and follows it through the
// links seen so far. Two descriptors that disagree about one blob's size
// make the archive inconsistent.
func (n *needs) mark(path string, size int64) error {
	for range maxLinkHops {
		if cur, ok := n.want[path]; ok && cur != unknownSize && size != unknownSize && cur != size {
			return fmt.Errorf("entry %s is declared as both %d and %d bytes", untrusted.Quote(path), cur, size)
		} else if !ok || cur == unknownSize {
			n.want[path] = size
		}
		t, ok := n.links[path]
		if !ok {
			return nil
		}
		path = t
	}
	return nil
}

// link records a link entry and, when its name is needed, its target.
func (n *needs) link(name, target string) error {
	n.links[name] = target
	if size, ok := n.want[name]; ok {
		return n.mark(target, size)
	}
	return nil
}

// roots reads the descriptors of index.json, or the paths of manifest.json
// (no sizes there), as the archive's images.
func (n *needs) roots(name string, b []byte) error {
	switch name {
	case indexFile:
		n.index = true
		idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
		if err != nil {
			return nil // resolve reports it
		}
		n.indexed = len(idx.Manifests)
		for _, d := range idx.Manifests {
			if err := n.reach(d, 0); err != nil {
				return err
			}
		}
	case manifestFile:
		n.manifest = true
		var items []dockerItem
		if json.Unmarshal(b, &items) != nil {
			return nil
		}
		for _, it := range items {
			if err := n.mark(it.Config, unknownSize); err != nil {
				return err
			}
			for _, p := range it.Layers {
				if err := n.mark(p, unknownSize); err != nil {
					return err
				}
			}
		}
	default:
		if isLegacyV1File(name) && path.Base(name) == "json" { // "<id>/json": its layer is "<id>/layer.tar"
			return n.mark(path.Dir(name)+"/"+legacyLayerFile, unknownSize)
		}
	}
	return nil
}

// reach records a manifest or index descriptor: its blob is needed and its
// content, once read, names more.
func (n *needs) reach(d v1.Descriptor, depth int) error {
	if d.Digest.Algorithm != "sha256" || !isHex64(d.Digest.Hex) || depth > maxDepth {
		return nil // resolve reports it
	}
	if err := n.mark(blobPath("sha256", d.Digest.Hex), d.Size); err != nil {
		return err
	}
	if !n.expanded[d.Digest] {
		n.pending[d.Digest] = pendingDesc{d, depth}
	}
	return nil
}

// expand reads the children of a pending descriptor from its verified
// content raw (nil: too large or unreadable, which resolve reports).
func (n *needs) expand(p pendingDesc, raw []byte) error {
	delete(n.pending, p.d.Digest)
	n.expanded[p.d.Digest] = true
	if raw == nil {
		return nil
	}
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return nil
	}
	mt := p.d.MediaType
	if !mt.IsIndex() && !mt.IsImage() {
		mt = probe.MediaType
	}
	switch {
	case mt.IsIndex() || mt == "" && probe.Manifests != nil:
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil
		}
		for _, c := range idx.Manifests {
			if err := n.reach(c, p.depth+1); err != nil {
				return err
			}
		}
	case mt.IsImage() || mt == "" && probe.Config != nil:
		m, err := v1.ParseManifest(bytes.NewReader(raw))
		if err != nil {
			return nil
		}
		for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			if d.Digest.Algorithm == "sha256" && isHex64(d.Digest.Hex) {
				if err := n.mark(blobPath("sha256", d.Digest.Hex), d.Size); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
