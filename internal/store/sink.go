package store

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageDigest is the manifest (or index) digest name points at; ok is
// false when it names nothing. Pulls compare it before and after to say
// "Downloaded newer image" or "Image is up to date".
func (s *Store) ImageDigest(ctx context.Context, name string) (v1.Hash, bool) {
	img, err := s.Lookup(ctx, name)
	if err != nil {
		return v1.Hash{}, false
	}
	return img.Digest, true
}

// NameImage is AddResolved for writers that need no record back (a pull
// into the store through remote.ImageStore): desc is what the names point
// at, img the image manifest the pull chose from it and m that manifest.
func (s *Store) NameImage(ctx context.Context, desc, img v1.Descriptor, m *v1.Manifest, names ...string) error {
	_, err := s.AddResolved(ctx, Resolved{Desc: desc, Image: img, Manifest: m}, names...)
	return err
}
