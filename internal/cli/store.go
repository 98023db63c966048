package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// storeHandle is the store opened for this invocation, shared by the
// commands that need it and closed when the command ends.
type storeHandle struct {
	s *store.Store
}

// openStore opens the local store at --root (else $BERTH_ROOT, else the
// default for this user) once per invocation.
func (a *app) openStore(ctx context.Context) (*store.Store, error) {
	if a.st != nil {
		return a.st.s, nil
	}
	root := a.rootDir
	if root == "" {
		root = store.DefaultRoot()
	}
	s, err := store.Open(ctx, root)
	if err != nil {
		return nil, withHint(err, "use --root DIR or BERTH_ROOT to choose a writable store directory")
	}
	a.st = &storeHandle{s: s}
	return s, nil
}

func (a *app) close() {
	if a.st != nil {
		a.st.s.Close()
		a.st = nil
	}
}

// parsePlatformFlag parses --platform os/arch[/variant]; empty means this
// machine's platform.
func parsePlatformFlag(s string) (*v1.Platform, error) {
	if s == "" {
		return nil, nil
	}
	p, err := image.ParsePlatform(s)
	if err != nil {
		return nil, usageError{err}
	}
	return p, nil
}

// platformImage opens img for platform p: the matching manifest when img is
// an index, img itself when its config satisfies p. shown names the image in
// Docker's "does not provide the specified platform" error.
func platformImage(ctx context.Context, st *store.Store, img store.Image, shown string, p v1.Platform) (v1.Image, error) {
	notProvided := fmt.Errorf("image %s does not provide the specified platform (%s)", shown, p.String())
	im, err := st.Image(ctx, img, &p)
	if errors.Is(err, store.ErrNotFound) {
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
