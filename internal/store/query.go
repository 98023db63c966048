package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Summary is one image as `images` and the Engine API's GET /images/json
// show it. berth keeps no parent chain and runs no containers, so ParentID
// is always empty and Containers always 0.
type Summary struct {
	Image                // the record: full Names, both digests, Created, Size, Labels
	RepoTags    []string // familiar name:tag, narrowed to the reference filters when there are any
	RepoDigests []string // familiar name@digest, narrowed likewise
	ParentID    string
	Containers  int
}

// ListOptions are the options of List. Their zero value lists every image.
type ListOptions struct {
	Filters Filters   // ListFilterKeys
	Now     time.Time // anchors until=DURATION; zero is the current time
}

// List is `images` and GET /images/json: the records that match every
// filter, newest first. It reads only index.json.
func (s *Store) List(ctx context.Context, opts ListOptions) ([]Summary, error) {
	m, err := opts.Filters.compile(ListFilterKeys, opts.Now)
	if err != nil {
		return nil, err
	}
	x, err := s.loadIndex()
	if err != nil {
		return nil, err
	}
	if err := m.resolve(ctx, x); err != nil {
		return nil, err
	}
	imgs := sortedImages(x)
	out := make([]Summary, 0, len(imgs))
	for _, img := range imgs {
		if !m.match(&img) {
			continue
		}
		sum := Summary{Image: img, RepoTags: []string{}, RepoDigests: []string{}}
		for _, n := range img.Names {
			if len(m.references) > 0 && !m.matchesName(n) {
				continue
			}
			if strings.Contains(n, "@") {
				sum.RepoDigests = append(sum.RepoDigests, ref.FamiliarString(n))
			} else {
				sum.RepoTags = append(sum.RepoTags, ref.FamiliarString(n))
			}
		}
		out = append(out, sum)
	}
	return out, nil
}

// Details is what `inspect` and GET /images/{name}/json show of one image:
// the record, the manifest and config of the chosen platform, and the sizes
// the store knows.
type Details struct {
	Image
	RepoTags    []string // familiar name:tag
	RepoDigests []string // familiar name@digest
	Config      *v1.ConfigFile
	ConfigName  v1.Hash         // the image ID of the chosen platform
	Manifest    *v1.Manifest    // of the chosen platform
	Manifests   []v1.Descriptor // an index's children
	Size        int64           // uncompressed layers of the chosen platform
	Root        string          // the store's directory (Docker's GraphDriver data)
}

// InspectOptions are the options of Inspect.
type InspectOptions struct {
	Platform *v1.Platform // for an index: the child to describe (nil: this machine's)
}

// Inspect looks query up as Lookup does and describes the image.
func (s *Store) Inspect(ctx context.Context, query string, opts InspectOptions) (*Details, error) {
	img, err := s.Lookup(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.Describe(ctx, img, opts)
}

// Describe is Inspect of a record already looked up.
func (s *Store) Describe(ctx context.Context, img Image, opts InspectOptions) (*Details, error) {
	vimg, err := s.Image(ctx, img, opts.Platform)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", img.Digest, err)
	}
	cfg, err := vimg.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", img.Digest, err)
	}
	cfgName, _ := vimg.ConfigName()
	man, err := vimg.Manifest()
	if err != nil {
		return nil, err
	}
	d := &Details{Image: img, RepoTags: []string{}, RepoDigests: []string{}, Config: cfg, ConfigName: cfgName, Manifest: man, Root: s.Root()}
	for _, l := range man.Layers {
		n, err := s.ContentSize(l) // Docker's Size: the files', not the tars'
		if err != nil {
			return nil, err
		}
		d.Size += n
	}
	for _, n := range img.Names {
		r, err := ref.Parse(n)
		if err != nil {
			continue
		}
		if _, isDigest := r.(name.Digest); isDigest {
			d.RepoDigests = append(d.RepoDigests, ref.Familiar(r))
		} else {
			d.RepoTags = append(d.RepoTags, ref.Familiar(r))
		}
	}
	if img.IsIndex() {
		if idx, err := s.IndexManifest(img.Digest); err == nil {
			d.Manifests = idx.Manifests
		}
	}
	return d, nil
}

// HistoryEntry is one step of an image's history, as `history` and GET
// /images/{name}/history show it.
type HistoryEntry struct {
	ID         string    // the image ID on the newest entry, "<missing>" on the others (Docker's wording)
	Tags       []string  // the image's familiar tags, on the newest entry
	Created    time.Time //
	CreatedBy  string
	Comment    string
	Size       int64 // uncompressed size of the layer the step made
	EmptyLayer bool
}

// HistoryOptions are the options of History.
type HistoryOptions struct {
	Platform *v1.Platform // for an index: the child to show (nil: this machine's)
}

// History returns the steps of the image query names, newest first, each
// paired with the size of the layer it made.
func (s *Store) History(ctx context.Context, query string, opts HistoryOptions) ([]HistoryEntry, error) {
	img, err := s.Lookup(ctx, query)
	if err != nil {
		return nil, err
	}
	vimg, err := s.Image(ctx, img, opts.Platform)
	if err != nil {
		return nil, err
	}
	cfg, err := vimg.ConfigFile()
	if err != nil {
		return nil, err
	}
	m, err := vimg.Manifest()
	if err != nil {
		return nil, err
	}
	// Walk oldest to newest to pair entries with layers.
	entries := make([]HistoryEntry, 0, len(cfg.History))
	li := 0
	for _, h := range cfg.History {
		e := HistoryEntry{ID: "<missing>", Created: h.Created.Time, CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if !h.EmptyLayer && li < len(m.Layers) {
			n, err := s.ContentSize(m.Layers[li]) // as Docker's history counts a layer
			if err != nil {
				return nil, err
			}
			e.Size = n
			li++
		}
		entries = append(entries, e)
	}
	if len(entries) > 0 {
		top := &entries[len(entries)-1]
		top.ID = img.ID.String()
		for _, n := range img.Names {
			if !strings.Contains(n, "@") {
				top.Tags = append(top.Tags, ref.FamiliarString(n))
			}
		}
	}
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	return entries, nil
}

// TagImage is `tag` and POST /images/{name}/tag: target (NAME[:TAG], Docker's
// default tag latest) now names the image source finds.
func (s *Store) TagImage(ctx context.Context, source, target string) error {
	t, err := ref.ParseTag(target)
	if err != nil {
		return err
	}
	img, err := s.Lookup(ctx, source)
	if err != nil {
		return err
	}
	return s.Tag(ctx, img, ref.FullName(t))
}
