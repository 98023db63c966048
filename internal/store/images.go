package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// AddImage records the manifest or index desc under names (full or familiar
// references; tags move away from the images that held them, which may then
// become dangling, as in Docker). Every blob the image needs must already be
// in the store; an index may be sparse (children for other platforms absent).
func (s *Store) AddImage(ctx context.Context, desc v1.Descriptor, names ...string) (Image, error) {
	full, err := fullNames(names)
	if err != nil {
		return Image{}, err
	}
	rec, err := s.describe(desc)
	if err != nil {
		return Image{}, err
	}
	return s.addRecord(ctx, rec, full, func() error { return s.checkComplete(desc) })
}

// AddResolved is AddImage for a writer that knows what it stored (a pull):
// the record is made from r without choosing a platform or parsing the
// manifest again.
func (s *Store) AddResolved(ctx context.Context, r Resolved, names ...string) (Image, error) {
	full, err := fullNames(names)
	if err != nil {
		return Image{}, err
	}
	if r.Manifest == nil {
		return Image{}, fmt.Errorf("recording %s: no manifest", r.Desc.Digest)
	}
	rec, err := s.describeResolved(r)
	if err != nil {
		return Image{}, err
	}
	return s.addRecord(ctx, rec, full, func() error { return s.checkResolved(r) })
}

func fullNames(names []string) ([]string, error) {
	full := make([]string, 0, len(names))
	for _, n := range names {
		r, err := ref.Parse(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		full = append(full, ref.FullName(r))
	}
	return full, nil
}

// addRecord writes rec into the index under names, once complete says
// every blob it needs is present.
func (s *Store) addRecord(ctx context.Context, rec Image, full []string, complete func() error) (Image, error) {
	err := s.update(ctx, func(x *index) error {
		// Checked under the lock: a concurrent GC cannot run between this
		// check and the index write (it takes the index lock too).
		if err := complete(); err != nil {
			return err
		}
		cur := x.find(rec.Digest)
		if cur == nil {
			rec.Added = time.Now()
			cur = &rec
			x.images = append(x.images, cur)
		}
		for _, n := range full {
			if has(cur.Names, n) {
				continue
			}
			x.removeName(n)
			cur.Names = append(cur.Names, n)
		}
		rec = *cur
		return nil
	})
	return rec, err
}

// Tag adds name to img.
func (s *Store) Tag(ctx context.Context, img Image, name string) error {
	_, err := s.AddImage(ctx, img.Descriptor(), name)
	return err
}

// ErrAmbiguous is returned for an ID prefix that matches several images.
var ErrAmbiguous = errors.New("ambiguous image ID prefix")

// Lookup finds an image by reference (name[:tag], name@digest), by image ID
// or manifest digest (sha256:…), or by an ID prefix, in Docker's order.
func (s *Store) Lookup(ctx context.Context, query string) (Image, error) {
	x, err := s.loadIndex()
	if err != nil {
		return Image{}, err
	}
	img, err := lookup(x, query)
	if err != nil {
		return Image{}, err
	}
	return *img, nil
}

func lookup(x *index, query string) (*Image, error) {
	if h, err := v1.NewHash(query); err == nil {
		for _, img := range x.images {
			if img.ID == h || img.Digest == h {
				return img, nil
			}
		}
		return nil, notFound(query)
	}
	if r, err := ref.Parse(query); err == nil {
		full := ref.FullName(r)
		for _, img := range x.images {
			if has(img.Names, full) {
				return img, nil
			}
		}
		if d, ok := r.(name.Digest); ok {
			h, _ := v1.NewHash(d.DigestStr())
			for _, img := range x.images {
				if img.Digest == h {
					return img, nil
				}
			}
		}
	}
	if isHexPrefix(query) {
		var found *Image
		for _, img := range x.images {
			if strings.HasPrefix(img.ID.Hex, query) {
				if found != nil && found.ID != img.ID {
					return nil, fmt.Errorf("%w: %s matches several images", ErrAmbiguous, query)
				}
				if found == nil {
					found = img
				}
			}
		}
		if found != nil {
			return found, nil
		}
	}
	if _, err := ref.Parse(query); err != nil && !isHexPrefix(query) {
		return nil, err
	}
	return nil, notFound(query)
}

func notFound(query string) error {
	if r, err := ref.Parse(query); err == nil {
		if _, isTag := r.(name.Tag); isTag && !strings.Contains(lastPart(query), ":") {
			query = ref.Familiar(r)
		}
	}
	return notFoundf("no such image: %s", query)
}

func lastPart(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}

func isHexPrefix(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	_, err := hex.DecodeString(s + strings.Repeat("0", len(s)%2))
	return err == nil && strings.ToLower(s) == s
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Event is one line of what a removal did, as `docker rmi` prints it.
type Event struct {
	Untagged string // familiar name
	Deleted  v1.Hash
}

// ErrConflict is returned when Docker would refuse a removal without -f.
var ErrConflict = errors.New("conflict")

// Remove implements `rmi`: a name is untagged (and the image deleted when no
// tag is left, taking its digest references of the same repository along); an
// ID deletes the image, which needs force when it is referenced in several
// repositories. Blobs are collected separately (see GC).
func (s *Store) Remove(ctx context.Context, query string, force bool) ([]Event, error) {
	var events []Event
	err := s.update(ctx, func(x *index) error {
		img, err := lookup(x, query)
		if err != nil {
			return err
		}
		byName := false
		var full string
		if r, err := ref.Parse(query); err == nil {
			full = ref.FullName(r)
			byName = has(img.Names, full)
		}
		if byName {
			x.removeName(full)
			events = append(events, Event{Untagged: ref.FamiliarString(full)})
			if !hasTag(img.Names) {
				// The last tag of a repository takes that repository's
				// digest references with it, as in Docker.
				for _, n := range append([]string(nil), img.Names...) {
					if sameRepo(n, full) {
						x.removeName(n)
						events = append(events, Event{Untagged: ref.FamiliarString(n)})
					}
				}
			}
			if len(img.Names) > 0 {
				return nil
			}
			x.remove(img.Digest)
			events = append(events, Event{Deleted: img.ID})
			return nil
		}
		if !force && repoCount(img.Names) > 1 {
			return fmt.Errorf("%w: unable to delete %s (must be forced) - image is referenced in multiple repositories", ErrConflict, img.ID.Hex[:12])
		}
		for _, n := range img.Names {
			events = append(events, Event{Untagged: ref.FamiliarString(n)})
		}
		x.remove(img.Digest)
		events = append(events, Event{Deleted: img.ID})
		// Other records with the same ID (another manifest of the same
		// config) go too when deleting by ID.
		for _, other := range append([]*Image(nil), x.images...) {
			if other.ID == img.ID && (force || repoCount(other.Names) <= 1) {
				for _, n := range other.Names {
					events = append(events, Event{Untagged: ref.FamiliarString(n)})
				}
				x.remove(other.Digest)
			}
		}
		return nil
	})
	return events, err
}

// RemoveDigest deletes a record outright (prune).
func (s *Store) RemoveDigest(ctx context.Context, d v1.Hash) error {
	return s.update(ctx, func(x *index) error {
		x.remove(d)
		return nil
	})
}

func hasTag(names []string) bool {
	for _, n := range names {
		if !strings.Contains(n, "@") {
			return true
		}
	}
	return false
}

func repoOf(n string) string {
	if i := strings.Index(n, "@"); i >= 0 {
		return n[:i]
	}
	if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
		return n[:i]
	}
	return n
}

func sameRepo(a, b string) bool { return repoOf(a) == repoOf(b) }

func repoCount(names []string) int {
	seen := map[string]bool{}
	for _, n := range names {
		seen[repoOf(n)] = true
	}
	return len(seen)
}
