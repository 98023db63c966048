package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Loaded is one image or index a load stored the blobs of, with the names
// its archive gives it. Its fields are archive.Loaded's, so Loaded(l)
// converts one.
type Loaded struct {
	Descriptor v1.Descriptor
	Names      []string // full references; none for an image saved by ID
}

// RecordLoaded is the end of `load` and POST /images/load: it names the
// loaded images (with platform, only that platform's image of each) and
// reports Docker's lines to emit — "Loaded image: NAME", "Loaded image ID:
// ID", and the notice when a name moves away from another image.
func (s *Store) RecordLoaded(ctx context.Context, loaded []Loaded, platform *v1.Platform, emit func(string)) error {
	if platform != nil {
		for i := range loaded {
			d, err := s.loadedPlatform(loaded[i], *platform)
			if err != nil {
				return err
			}
			loaded[i].Descriptor = d
		}
	}
	for _, l := range loaded {
		// Like docker, say when a name moves away from another image.
		for _, n := range l.Names {
			if prev, err := s.Lookup(ctx, n); err == nil && prev.Digest != l.Descriptor.Digest && has(prev.Names, n) {
				emit(fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", ref.FamiliarString(n), prev.ID))
			}
		}
		img, err := s.AddImage(ctx, l.Descriptor, l.Names...)
		if err != nil {
			return fmt.Errorf("recording %s: %w", l.Descriptor.Digest, err)
		}
		if len(l.Names) == 0 {
			emit("Loaded image ID: " + img.ID.String())
			continue
		}
		for _, n := range l.Names {
			emit("Loaded image: " + ref.FamiliarString(n))
		}
	}
	return nil
}

// loadedPlatform narrows a loaded image to platform p: the matching child
// of an index (the rest of the index stays unreferenced, for GC), or the
// image itself when its config is for p.
func (s *Store) loadedPlatform(l Loaded, p v1.Platform) (v1.Descriptor, error) {
	shown := l.Descriptor.Digest.String()
	if len(l.Names) > 0 {
		shown = ref.FamiliarString(l.Names[0])
	}
	notProvided := fmt.Errorf("image %s does not provide the specified platform (%s)", shown, p.String())
	if l.Descriptor.MediaType.IsIndex() {
		m, err := s.IndexManifest(l.Descriptor.Digest)
		if err != nil {
			return v1.Descriptor{}, err
		}
		child, err := s.PlatformManifest(m, &p, true)
		if errors.Is(err, ErrNotFound) {
			return v1.Descriptor{}, notProvided
		}
		return child, err
	}
	m, err := s.Manifest(l.Descriptor.Digest)
	if err != nil {
		return v1.Descriptor{}, err
	}
	cfg, err := s.ConfigFile(m.Config.Digest)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if !image.ConfigMatches(cfg, p) {
		return v1.Descriptor{}, notProvided
	}
	return l.Descriptor, nil
}

// Abandon leaves the store as it was before a failed write (a load): it
// ends this process's hold (lease) on the blobs it stored and runs the
// garbage collection, which removes them unless an image or another running
// berth process needs them. Deleting them directly would race with a
// concurrent load of the same content. s is closed: do not use it after.
func (s *Store) Abandon(ctx context.Context, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.Close()
	fresh, err := Open(ctx, s.root)
	if err != nil {
		log.Debug("reopening the store after a failed write", "err", err)
		return
	}
	defer fresh.Close()
	res, err := fresh.GC(ctx)
	log.Debug("collected the blobs of a failed write", "blobs", res.Blobs, "bytes", res.Reclaimed, "err", err)
}
