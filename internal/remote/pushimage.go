package remote

import (
	"context"
	"errors"
	"strconv"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// ImageSource is where PushImage reads what it uploads; the local store
// (*store.Store) satisfies it.
type ImageSource interface {
	// LocalTags lists the name:tag references (full) of repository repo
	// that the source holds, sorted by tag.
	LocalTags(ctx context.Context, repo string) ([]string, error)
	// PushContent is what name names: an image or a whole index, or with
	// platform the one image for it; ok is false when name names nothing.
	PushContent(ctx context.Context, name string, platform *v1.Platform) (c partial.WithRawManifest, ok bool, err error)
	// BlobRepositories maps each layer of the source's images named in
	// other repositories of registry (than except) to those repository
	// paths: where the registry can mount the blob from.
	BlobRepositories(ctx context.Context, registry, except string) (map[v1.Hash][]string, error)
}

// PushImageOptions are the options of PushImage.
type PushImageOptions struct {
	Ref      string       // NAME[:TAG] as the user typed it; no digest
	AllTags  bool         // every local tag of the repository; Ref must name no tag
	Platform *v1.Platform // push only this platform's image of an index, as a single image
	Jobs     int          // parallel uploads; 0: settings' max-concurrent-uploads
}

// PushedImage is one tag PushImage uploaded: Docker's "TAG: digest: D size: N".
type PushedImage struct {
	Ref    string // full reference
	Tag    string
	Digest v1.Hash
	Size   int64
}

// PushImageResult says what PushImage uploaded; on an error, the tags
// pushed before it.
type PushImageResult struct {
	Images []PushedImage
}

// ErrPushByDigest refuses a digest reference: a push names a tag.
var ErrPushByDigest = errors.New("push by digest is not supported: push a tag")

// PushImage is `push` and the Engine API's POST /images/{name}/push: it
// uploads the local image o.Ref names (every local tag of its repository with
// AllTags) from src, mounting blobs the registry holds in other repositories.
func (c *Client) PushImage(ctx context.Context, o PushImageOptions, src ImageSource, ev Events) (*PushImageResult, error) {
	if ev == nil {
		ev = NoEvents{}
	}
	r, err := parseTransferRef(o.Ref, o.AllTags)
	if err != nil {
		return nil, err
	}
	if _, ok := r.(name.Digest); ok {
		return nil, ErrPushByDigest
	}
	notLocal := func(r name.Reference) error {
		return errors.New("An image does not exist locally with the tag: " + ref.FamiliarRepository(r))
	}
	tags := []string{ref.FullName(r)}
	if o.AllTags {
		if tags, err = src.LocalTags(ctx, ref.Repository(r)); err != nil {
			return nil, err
		}
		if len(tags) == 0 {
			return nil, notLocal(r)
		}
	}
	ev.Message("", "The push refers to repository ["+ref.Repository(r)+"]")
	repo := r.Context()
	blobRepos, err := src.BlobRepositories(ctx, repo.RegistryStr(), repo.RepositoryStr())
	if err != nil {
		return nil, err
	}
	mounts := func(h v1.Hash) []name.Repository {
		var out []name.Repository
		for _, p := range blobRepos[h] {
			out = append(out, repo.Registry.Repo(p))
		}
		return out
	}
	res := &PushImageResult{}
	for _, full := range tags {
		t, err := ref.ParseTag(full)
		if err != nil {
			return res, err
		}
		content, ok, err := src.PushContent(ctx, full, o.Platform)
		if err != nil {
			return res, err
		}
		if !ok {
			return res, notLocal(t)
		}
		pr, err := c.Push(ctx, t, content, PushOptions{Jobs: o.Jobs, Progress: ev, MountFrom: mounts})
		if err != nil {
			return res, err
		}
		res.Images = append(res.Images, PushedImage{Ref: full, Tag: t.TagStr(), Digest: pr.Digest, Size: pr.Size})
		ev.Message("", t.TagStr()+": digest: "+pr.Digest.String()+" size: "+strconv.FormatInt(pr.Size, 10))
	}
	return res, nil
}
