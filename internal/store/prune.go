package store

import (
	"context"
	"time"
)

// RemoveOptions are the options of RemoveImages; the zero value is `rmi`
// without flags.
type RemoveOptions struct {
	Force   bool // delete an image referenced in several repositories
	NoPrune bool // leave the blobs of deleted images for a later collection
}

// RemoveResult is what removing one query did, or why it failed.
type RemoveResult struct {
	Query  string
	Events []Event
	Err    error
}

// RemoveImages is `rmi` and DELETE /images/{name}: each query is untagged or
// deleted as Remove says, one after another, a failure not stopping the
// others. Unless NoPrune, the blobs no image needs any more are collected
// once at the end; the error returned is that collection's only (a busy
// store leaves the blobs for the next one, so callers may just log it).
func (s *Store) RemoveImages(ctx context.Context, queries []string, opts RemoveOptions) ([]RemoveResult, error) {
	results := make([]RemoveResult, 0, len(queries))
	for _, q := range queries {
		ev, err := s.Remove(ctx, q, opts.Force)
		results = append(results, RemoveResult{Query: q, Events: ev, Err: err})
	}
	if opts.NoPrune {
		return results, nil
	}
	_, err := s.GC(ctx)
	return results, err
}

// PruneOptions are the options of Prune; the zero value removes every
// dangling image.
type PruneOptions struct {
	All     bool      // every image, not only dangling ones (berth runs no containers, so none is in use)
	Filters Filters   // PruneFilterKeys
	Now     time.Time // anchors until=DURATION; zero is the current time
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Events    []Event // Docker's "untagged:"/"deleted:" lines
	Reclaimed int64   // bytes of blobs collected
}

// Prune is `image prune` and POST /images/prune: it removes the images
// PruneOptions select, then collects the blobs nothing needs any more.
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	var rep PruneReport
	m, err := opts.Filters.compile(PruneFilterKeys, opts.Now)
	if err != nil {
		return rep, err
	}
	x, err := s.loadIndex()
	if err != nil {
		return rep, err
	}
	if err := m.resolve(ctx, x); err != nil {
		return rep, err
	}
	for _, img := range sortedImages(x) {
		if !opts.All && !img.Dangling() {
			continue
		}
		if !m.match(&img) {
			continue
		}
		if img.Dangling() {
			if err := s.RemoveDigest(ctx, img.Digest); err != nil {
				return rep, err
			}
			rep.Events = append(rep.Events, Event{Deleted: img.ID})
			continue
		}
		ev, err := s.Remove(ctx, img.Digest.String(), true)
		if err != nil {
			return rep, err
		}
		rep.Events = append(rep.Events, ev...)
	}
	res, err := s.GC(ctx)
	if err != nil {
		return rep, err
	}
	rep.Reclaimed = res.Reclaimed
	return rep, nil
}
