package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotation keys of index.json. The ref name is the OCI image-layout one, so
// `skopeo inspect oci:ROOT:docker.io/library/busybox:latest` works.
const (
	annotRefName = "org.opencontainers.image.ref.name"
	annotID      = "io.berth.image.id"
	annotCreated = "io.berth.image.created"
	annotSize    = "io.berth.image.size"
	annotLabels  = "io.berth.image.labels"
	annotAdded   = "io.berth.image.added"
)

// Image is one record of the reference index: a manifest or index kept in
// the store, with the names that point at it. Images without names are
// dangling, as in Docker.
type Image struct {
	Digest       v1.Hash // manifest or index digest: the record's identity
	MediaType    types.MediaType
	ManifestSize int64
	ID           v1.Hash   // config digest (this machine's platform for an index): Docker's image ID
	Names        []string  // full references, tags and digests
	Created      time.Time // from the image config
	Added        time.Time // when the record entered this store
	Size         int64     // uncompressed size of the layers
	Labels       map[string]string
}

// Descriptor returns the record's descriptor.
func (img Image) Descriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: img.MediaType, Size: img.ManifestSize, Digest: img.Digest}
}

// IsIndex reports whether the record is a multi-platform index.
func (img Image) IsIndex() bool { return img.MediaType.IsIndex() }

// Dangling reports whether no name points at the image.
func (img Image) Dangling() bool { return len(img.Names) == 0 }

// index is the in-memory form of index.json, ordered by when records were
// added.
type index struct {
	images []*Image
}

func (x *index) find(d v1.Hash) *Image {
	for _, img := range x.images {
		if img.Digest == d {
			return img
		}
	}
	return nil
}

// removeName drops a name from whichever record holds it; it reports the
// record that held it.
func (x *index) removeName(name string) *Image {
	for _, img := range x.images {
		for i, n := range img.Names {
			if n == name {
				img.Names = append(img.Names[:i:i], img.Names[i+1:]...)
				return img
			}
		}
	}
	return nil
}

func (x *index) remove(d v1.Hash) {
	out := x.images[:0]
	for _, img := range x.images {
		if img.Digest != d {
			out = append(out, img)
		}
	}
	x.images = out
}

func (s *Store) loadIndex() (*index, error) {
	b, err := os.ReadFile(s.path("index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return &index{}, nil
	}
	if err != nil {
		return nil, err
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w (run: berth system check)", s.path("index.json"), err)
	}
	x := &index{}
	byDigest := map[v1.Hash]*Image{}
	for _, d := range m.Manifests {
		img := byDigest[d.Digest]
		if img == nil {
			img = &Image{Digest: d.Digest, MediaType: d.MediaType, ManifestSize: d.Size}
			a := d.Annotations
			img.ID, _ = v1.NewHash(a[annotID])
			img.Created, _ = time.Parse(time.RFC3339Nano, a[annotCreated])
			img.Added, _ = time.Parse(time.RFC3339Nano, a[annotAdded])
			img.Size, _ = strconv.ParseInt(a[annotSize], 10, 64)
			if l := a[annotLabels]; l != "" {
				_ = json.Unmarshal([]byte(l), &img.Labels)
			}
			byDigest[d.Digest] = img
			x.images = append(x.images, img)
		}
		if n := d.Annotations[annotRefName]; n != "" {
			img.Names = append(img.Names, n)
		}
	}
	return x, nil
}

func (s *Store) saveIndex(x *index) error {
	var manifests []v1.Descriptor
	for _, img := range x.images {
		a := map[string]string{
			annotID:      img.ID.String(),
			annotCreated: img.Created.UTC().Format(time.RFC3339Nano),
			annotAdded:   img.Added.UTC().Format(time.RFC3339Nano),
			annotSize:    strconv.FormatInt(img.Size, 10),
		}
		if len(img.Labels) > 0 {
			b, _ := json.Marshal(img.Labels)
			a[annotLabels] = string(b)
		}
		desc := func(name string) v1.Descriptor {
			ann := make(map[string]string, len(a)+1)
			for k, v := range a {
				ann[k] = v
			}
			if name != "" {
				ann[annotRefName] = name
			}
			return v1.Descriptor{MediaType: img.MediaType, Size: img.ManifestSize, Digest: img.Digest, Annotations: ann}
		}
		if len(img.Names) == 0 {
			manifests = append(manifests, desc(""))
		}
		sort.Strings(img.Names)
		for _, n := range img.Names {
			manifests = append(manifests, desc(n))
		}
	}
	b, err := image.MarshalIndex(manifests, nil)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(s.path("index.json"), b.Bytes, 0o644)
}

// update runs fn on the current index under the index lock and saves the
// result when fn succeeds. Every reference change goes through here, so
// concurrent processes serialise and none loses another's change.
func (s *Store) update(ctx context.Context, fn func(x *index) error) error {
	unlock, err := fsutil.LockContext(ctx, s.path("index.lock"))
	if err != nil {
		return fmt.Errorf("locking the store index: %w", err)
	}
	defer unlock()
	x, err := s.loadIndex()
	if err != nil {
		return err
	}
	if err := fn(x); err != nil {
		return err
	}
	return s.saveIndex(x)
}

// Images lists every record, newest first. It reads only index.json.
func (s *Store) Images(ctx context.Context) ([]Image, error) {
	x, err := s.loadIndex()
	if err != nil {
		return nil, err
	}
	return sortedImages(x), nil
}

func sortedImages(x *index) []Image {
	out := make([]Image, 0, len(x.images))
	for _, img := range x.images {
		out = append(out, *img)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// IndexStamp names the current version of the image index: it changes
// whenever a record is added, named or removed (index.json is replaced by
// rename on every change, so its inode changes too). A long-running reader
// (the Engine API server) keys what it derived from List by it.
func (s *Store) IndexStamp() (string, error) {
	fi, err := os.Stat(s.path("index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return "empty", nil
	}
	if err != nil {
		return "", err
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return fmt.Sprintf("%d-%d-%d", ino, fi.Size(), fi.ModTime().UnixNano()), nil
}
