package cli

import (
	"context"

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
