package snapshot

import (
	"context"
	"errors"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Store is a directory of unpacked layers, safe for concurrent use by
// goroutines and processes.
type Store struct {
	root string
}

// New opens (creating if needed) the snapshot directory root, e.g.
// ROOT/snapshots, and removes unpacks left over by killed processes.
func New(root string) (*Store, error) {
	return &Store{root: root}, nil
}

// Unpack returns the directory holding the layer whose uncompressed tar
// digest is diffID, unpacking r into it first when it is not there yet. r is
// the uncompressed layer tar; its sha256 is verified against diffID before
// the directory is published (atomically, by rename). Concurrent calls for
// one digest unpack it once. r is not read when the layer is present.
func (s *Store) Unpack(ctx context.Context, diffID v1.Hash, r io.Reader) (dir string, err error) {
	return "", errors.New("snapshot: not implemented yet")
}

// Lookup returns the directory of an unpacked layer.
func (s *Store) Lookup(diffID v1.Hash) (dir string, ok bool) {
	return "", false
}

// Remove deletes an unpacked layer (for garbage collection); removing an
// absent layer is not an error.
func (s *Store) Remove(ctx context.Context, diffID v1.Hash) error {
	return errors.New("snapshot: not implemented yet")
}
