package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageStore is where PullImage keeps what it fetches and names it; the
// local store (*store.Store) satisfies it.
type ImageStore interface {
	BlobSink
	BlobFileSink
	// ImageDigest is the manifest (or index) digest name points at now;
	// ok is false when it names nothing.
	ImageDigest(ctx context.Context, name string) (d v1.Hash, ok bool)
	// NameImage records the manifest or index desc under names (full
	// references), once every blob it needs is present. img and m are the
	// image manifest the pull chose (desc itself when it is one) and its
	// parsed content: the store records them without choosing a platform
	// or parsing again.
	NameImage(ctx context.Context, desc, img v1.Descriptor, m *v1.Manifest, names ...string) error
}

// Events receives what a pull or a push does, as Docker's daemon reports
// it: the per-layer status words and byte counts of Progress, and the lines
// about an image as a whole — Message("latest", "Pulling from
// library/busybox"), Message("", "Digest: sha256:…"), Message("", "Status:
// Image is up to date for busybox:latest"). The CLI draws them as bars or
// plain lines; the Engine API sends them as JSON messages (status, id).
type Events interface {
	Progress
	Message(id, text string)
}

// NoEvents discards every event.
type NoEvents struct{}

func (NoEvents) Status(string, string)      {}
func (NoEvents) Bytes(string, int64, int64) {}
func (NoEvents) Message(string, string)     {}

// PullImageOptions are the options of PullImage.
type PullImageOptions struct {
	Ref        string       // NAME[:TAG|@DIGEST] as the user typed it (Docker's default tag latest)
	AllTags    bool         // every tag of the repository; Ref must name no tag
	Platform   *v1.Platform // nil: this machine's
	Jobs       int          // parallel blob downloads; 0: settings' max-concurrent-downloads
	PartialDir string       // where interrupted downloads wait to be resumed (ROOT/remote/partial)
}

// PulledImage is one reference PullImage fetched and named.
type PulledImage struct {
	Ref      string        // full reference, as recorded
	Desc     v1.Descriptor // what it names: an index or an image manifest
	Registry string        // the host that served it (a mirror or the origin)
	Fetched  int           // blobs downloaded (0: everything was present)
	Newer    bool          // the name now points at other content than before
}

// PullImageResult says what PullImage did.
type PullImageResult struct {
	Images []PulledImage
	Newer  bool   // some name now points at other content: Docker's "Downloaded newer image"
	Shown  string // the familiar name the final status names (the repository with AllTags)
	Name   string // the full name Docker's CLI prints last (the repository with AllTags)
}

// PullImage is `pull` and the Engine API's POST /images/create?fromImage=:
// it pulls o.Ref (each tag of its repository with AllTags) into dst and
// names it there by tag and by digest, as Docker does.
func (c *Client) PullImage(ctx context.Context, o PullImageOptions, dst ImageStore, ev Events) (*PullImageResult, error) {
	if ev == nil {
		ev = NoEvents{}
	}
	r, err := parseTransferRef(o.Ref, o.AllTags)
	if err != nil {
		return nil, err
	}
	refs := []name.Reference{r}
	if o.AllTags {
		tags, err := c.Tags(ctx, r.Context())
		if err != nil {
			return nil, err
		}
		refs = refs[:0]
		for _, t := range tags {
			refs = append(refs, r.Context().Tag(t))
		}
		ev.Message("", "Pulling all tags of "+ref.FamiliarRepository(r))
	}
	res := &PullImageResult{Shown: ref.Familiar(r), Name: ref.FullName(r)}
	for _, one := range refs {
		p, err := c.pullAndName(ctx, one, o, dst, ev)
		if err != nil {
			return nil, err
		}
		res.Images = append(res.Images, *p)
		res.Newer = res.Newer || p.Newer
		res.Shown = ref.Familiar(one)
	}
	if o.AllTags {
		res.Shown, res.Name = ref.FamiliarRepository(r), ref.Repository(r)
	}
	status := "Image is up to date for "
	if res.Newer {
		status = "Downloaded newer image for "
	}
	ev.Message("", "Status: "+status+res.Shown)
	return res, nil
}

// pullAndName pulls one reference and records it under its tag and digest.
func (c *Client) pullAndName(ctx context.Context, r name.Reference, o PullImageOptions, dst ImageStore, ev Events) (*PulledImage, error) {
	ev.Message(r.Identifier(), "Pulling from "+r.Context().RepositoryStr())
	full := ref.FullName(r)
	before, _ := dst.ImageDigest(ctx, full)
	res, err := c.Pull(ctx, r, dst, PullOptions{Platform: o.Platform, Jobs: o.Jobs, PartialDir: o.PartialDir, Progress: ev})
	if err != nil {
		return nil, err
	}
	if err := dst.NameImage(ctx, res.Desc, res.Image, res.Manifest, full, ref.Repository(r)+"@"+res.Desc.Digest.String()); err != nil {
		return nil, fmt.Errorf("recording %s: %w", ref.Familiar(r), err)
	}
	ev.Message("", "Digest: "+res.Desc.Digest.String())
	c.log.Debug("pulled", "ref", full, "digest", res.Desc.Digest, "registry", res.Registry, "blobs", res.Fetched)
	return &PulledImage{Ref: full, Desc: res.Desc, Registry: res.Registry, Fetched: res.Fetched, Newer: before != res.Desc.Digest}, nil
}

// parseTransferRef parses what pull and push were given as typed; with all
// tags it must name none.
func parseTransferRef(s string, allTags bool) (name.Reference, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	if allTags && ExplicitTag(s) {
		return nil, errors.New("tag can't be used with --all-tags/-a")
	}
	return r, nil
}

// ExplicitTag reports whether s, as typed, names a tag (a colon after the
// last slash, not part of a digest).
func ExplicitTag(s string) bool {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return strings.Contains(s, ":")
}
