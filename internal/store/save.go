package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// SaveItem is one image `save` writes and the names it is saved under. Its
// fields are archive.Entry's, so archive.Entry(item) converts it.
type SaveItem struct {
	Image v1.Image      // exactly one of Image and Index
	Index v1.ImageIndex // an index, saved with every child the store has
	// Names are full references; none saves the image by ID.
	Names []string
}

// SaveItems resolves the arguments of `save` and GET /images/get to images
// and the names they are saved under, as Docker does: "name:tag" and
// "name@digest" save that name, a bare repository saves every tag it has,
// an ID saves no name. With platform, an index is saved as its image for
// that platform. A missing image fails here, before anything is written.
func (s *Store) SaveItems(ctx context.Context, args []string, platform *v1.Platform) ([]SaveItem, error) {
	var items []SaveItem
	add := func(img Image, n string) error {
		it, err := s.saveItem(ctx, img, n, platform)
		if err != nil {
			return err
		}
		items = append(items, it)
		return nil
	}
	for _, arg := range args {
		if isRepositoryOnly(arg) {
			tagged, err := s.repositoryTags(ctx, arg)
			if err != nil {
				return nil, err
			}
			if len(tagged) > 0 {
				for _, t := range tagged {
					if err := add(t.img, t.name); err != nil {
						return nil, err
					}
				}
				continue
			}
		}
		img, err := s.Lookup(ctx, arg)
		if err != nil {
			return nil, err
		}
		n := ""
		if r, err := ref.Parse(arg); err == nil && !idLike(arg) {
			full := ref.FullName(r)
			if _, isDigest := r.(name.Digest); isDigest || has(img.Names, full) {
				n = full
			}
		}
		if err := add(img, n); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// saveItem opens one image for writing under name n ("" for none).
func (s *Store) saveItem(ctx context.Context, img Image, n string, platform *v1.Platform) (SaveItem, error) {
	var names []string
	if n != "" {
		names = []string{n}
	}
	if platform == nil && img.IsIndex() {
		idx, err := s.Index(ctx, img)
		if err != nil {
			return SaveItem{}, fmt.Errorf("opening %s: %w", img.Digest, err)
		}
		return SaveItem{Index: idx, Names: names}, nil
	}
	var im v1.Image
	var err error
	if platform != nil {
		im, err = s.PlatformImage(ctx, img, displayName(img, n), *platform)
	} else if im, err = s.Image(ctx, img, nil); err != nil {
		err = fmt.Errorf("opening %s: %w", img.Digest, err)
	}
	if err != nil {
		return SaveItem{}, err
	}
	// A digest name that pointed at the index does not name the platform's
	// manifest.
	if d, err := im.Digest(); err == nil && d != img.Digest {
		names = nil
		if _, tagged := tagPart(n); tagged {
			names = []string{n}
		}
	}
	return SaveItem{Image: im, Names: names}, nil
}

func displayName(img Image, n string) string {
	if n != "" {
		return ref.FamiliarString(n)
	}
	return img.ID.String()
}

func tagPart(full string) (string, bool) {
	if full == "" || strings.Contains(full, "@") {
		return "", false
	}
	i := strings.LastIndex(full, ":")
	if i < 0 || strings.Contains(full[i+1:], "/") {
		return "", false
	}
	return full[i+1:], true
}

type taggedImage struct {
	img  Image
	name string
}

// repositoryTags lists the tags of a repository with their images, in the
// store's order.
func (s *Store) repositoryTags(ctx context.Context, repo string) ([]taggedImage, error) {
	r, err := ref.Parse(repo)
	if err != nil {
		return nil, err
	}
	prefix := ref.Repository(r) + ":"
	imgs, err := s.Images(ctx)
	if err != nil {
		return nil, err
	}
	var out []taggedImage
	for _, img := range imgs {
		for _, n := range img.Names {
			if rest, ok := strings.CutPrefix(n, prefix); ok && !strings.Contains(rest, "/") {
				out = append(out, taggedImage{img, n})
			}
		}
	}
	return out, nil
}

var hexID = regexp.MustCompile(`^(sha256:)?[0-9a-f]{1,64}$`)

func idLike(s string) bool { return hexID.MatchString(s) }

// isRepositoryOnly reports whether s names a repository without tag or
// digest ("busybox", "localhost:5000/app"), which docker save expands to all
// of its tags.
func isRepositoryOnly(s string) bool {
	if strings.Contains(s, "@") || idLike(s) {
		return false
	}
	last := s[strings.LastIndex(s, "/")+1:]
	return !strings.Contains(last, ":")
}
