package store

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// PlatformImage opens img for platform p: the matching manifest when img is
// an index, img itself when its config satisfies p. shown names the image in
// Docker's "does not provide the specified platform" error.
func (s *Store) PlatformImage(ctx context.Context, img Image, shown string, p v1.Platform) (v1.Image, error) {
	notProvided := fmt.Errorf("image %s does not provide the specified platform (%s)", shown, p.String())
	im, err := s.Image(ctx, img, &p)
	if errors.Is(err, ErrNotFound) {
		return nil, notProvided
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", img.Digest, err)
	}
	if !img.IsIndex() {
		cfg, err := im.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading config of %s: %w", img.Digest, err)
		}
		if !image.ConfigMatches(cfg, p) {
			return nil, notProvided
		}
	}
	return im, nil
}

// LocalTags lists the name:tag references (full) of repository repo that
// the store holds, sorted by tag: what `push --all-tags` pushes.
func (s *Store) LocalTags(ctx context.Context, repo string) ([]string, error) {
	imgs, err := s.Images(ctx)
	if err != nil {
		return nil, err
	}
	type tagged struct{ full, tag string }
	var out []tagged
	for _, img := range imgs {
		for _, n := range img.Names {
			t, err := ref.ParseTag(n)
			if err == nil && ref.Repository(t) == repo {
				out = append(out, tagged{n, t.TagStr()})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tag < out[j].tag })
	names := make([]string, len(out))
	for i, t := range out {
		names[i] = t.full
	}
	return names, nil
}

// PushContent is what name names in the store, as a push uploads it: the
// image or the whole index, or with platform the one image for it. ok is
// false when name names nothing.
func (s *Store) PushContent(ctx context.Context, name string, platform *v1.Platform) (c partial.WithRawManifest, ok bool, err error) {
	img, err := s.Lookup(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	switch {
	case platform != nil:
		r, err := ref.Parse(name)
		if err != nil {
			return nil, false, err
		}
		c, err = s.PlatformImage(ctx, img, ref.Familiar(r), *platform)
		if err != nil {
			return nil, true, err
		}
		return c, true, nil
	case img.IsIndex():
		c, err = s.Index(ctx, img)
	default:
		c, err = s.Image(ctx, img, nil)
	}
	if err != nil {
		return nil, true, fmt.Errorf("reading %s from the local store: %w", ref.FamiliarString(name), err)
	}
	return c, true, nil
}

// BlobRepositories maps each layer of the local images named in other
// repositories of registry (than except, the push target) to those
// repositories: the registry already has the blob there and can link it
// into the target instead of receiving it again.
func (s *Store) BlobRepositories(ctx context.Context, registry, except string) (map[v1.Hash][]string, error) {
	imgs, err := s.Images(ctx)
	if err != nil {
		return nil, err
	}
	src := map[v1.Hash][]string{}
	for _, img := range imgs {
		var repos []string
		for _, n := range img.Names {
			r, err := ref.Parse(n)
			if err != nil || r.Context().RegistryStr() != registry || r.Context().RepositoryStr() == except {
				continue
			}
			repos = append(repos, r.Context().RepositoryStr())
		}
		if len(repos) == 0 || img.IsIndex() {
			continue
		}
		m, err := s.Manifest(img.Digest)
		if err != nil {
			continue
		}
		for _, l := range m.Layers {
			src[l.Digest] = append(src[l.Digest], repos...)
		}
	}
	return src, nil
}
