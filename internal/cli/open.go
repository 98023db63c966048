package cli

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
)

// The model's opener (image.Open) takes the store and the registry client
// as small interfaces; these wire in the concrete ones.

// openImage opens arg from any source (the store, archives, layouts, a
// registry through berth's own client) for platform p.
func (a *app) openImage(ctx context.Context, arg string, o image.OpenOptions) (*image.Opened, error) {
	o.Store = storeReader{a}
	o.Registry = registryReader{a}
	return image.Open(ctx, arg, o)
}

// storeReader opens images of berth's store.
type storeReader struct{ a *app }

func (r storeReader) StoreImage(ctx context.Context, name string, p *v1.Platform) (v1.Image, error) {
	s, err := r.a.openStore(ctx)
	if err != nil {
		// No readable store holds nothing: a registry may still serve it.
		return nil, noImage{fmt.Errorf("no such image: %s: %w", name, err)}
	}
	img, err := s.Lookup(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noImage{fmt.Errorf("no such image: %s: %w", name, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("looking up %s in the local store: %w", name, err)
	}
	return s.Image(ctx, img, p)
}

// registryReader reads images from registries with berth's client: its
// settings file (registry-mirrors, insecure-registries), Docker's config
// (logins, credential helpers) and certs.d, as `berth pull` does.
type registryReader struct{ a *app }

func (r registryReader) RegistryImage(ctx context.Context, s string, p *v1.Platform) (v1.Image, error) {
	rf, err := ref.Parse(s)
	if err != nil {
		return nil, usageError{fmt.Errorf("invalid reference format: %w", err)}
	}
	c, err := r.a.newRemoteClient(nil)
	if err != nil {
		return nil, err
	}
	img, err := c.Image(ctx, rf, p)
	if err != nil {
		var re *remote.Error
		if errors.As(err, &re) && re.Cause == remote.CauseNotFound {
			err = noImage{err}
		}
		return nil, remoteErr(err)
	}
	return img, nil
}

// noImage marks err as image.ErrNotFound for the opener, keeping its text
// (one line) and what it wraps.
type noImage struct{ error }

func (e noImage) Unwrap() error        { return e.error }
func (e noImage) Is(target error) bool { return target == image.ErrNotFound }
