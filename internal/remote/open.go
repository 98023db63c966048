package remote

import (
	"bytes"
	"context"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/image"
)

// Image opens ref's image for platform (nil: this machine's) without
// storing anything, as `berth dive registry:REF` and `berth scan REF` read
// it. The manifest (and the index it may come from) is fetched now, through
// everything a pull goes through: the settings' registry-mirrors for Docker
// Hub names, insecure registries, certs.d, the credential store and
// berth's Bearer rules. The config and layers are fetched when read, each
// checked against its descriptor as it streams (image.Verify).
//
// v1.Image's methods take no context: ctx bounds those later reads too,
// as go-containerregistry's remote.WithContext does.
func (c *Client) Image(ctx context.Context, ref name.Reference, platform *v1.Platform) (v1.Image, error) {
	var img v1.Image
	err := c.tryCandidates(ctx, ref, func(repo name.Repository) (err error) {
		img, err = c.openFrom(ctx, repo, ref, platform)
		return err
	})
	if err != nil {
		return nil, err
	}
	return img, nil
}

func (c *Client) openFrom(ctx context.Context, repo name.Repository, ref name.Reference, platform *v1.Platform) (v1.Image, error) {
	host := repo.RegistryStr()
	shown := host + "/" + repo.RepositoryStr() + refSuffix(ref)
	f, err := c.fetcher(ctx, repo, transport.PullScope)
	if err != nil {
		return nil, classify(err, "reading", host, shown)
	}
	raw, desc, err := f.manifest(ctx, ref.Identifier())
	if err != nil {
		return nil, classify(err, "reading", host, shown)
	}
	if desc.MediaType.IsIndex() {
		child, err := pickPlatform(raw, platform)
		if err != nil {
			return nil, &Error{Cause: CauseOther, Host: host, Ref: shown, Op: "reading", Err: err}
		}
		if raw, desc, err = f.manifest(ctx, child.Digest.String()); err != nil {
			return nil, classify(err, "reading", host, shown)
		}
	}
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("reading %s: unsupported manifest media type %s", shown, untrusted.Quote(string(desc.MediaType)))
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading %s: invalid image manifest: %w", shown, err)
	}
	return partial.CompressedToImage(&remoteCore{ctx: ctx, f: f, raw: raw, mt: desc.MediaType, m: m, shown: shown, host: host})
}

// remoteCore is partial.CompressedImageCore over one repository fetcher.
type remoteCore struct {
	ctx   context.Context
	f     *repoFetcher
	raw   []byte
	mt    types.MediaType
	m     *v1.Manifest
	shown string
	host  string
}

func (r *remoteCore) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r *remoteCore) MediaType() (types.MediaType, error) { return r.mt, nil }

func (r *remoteCore) RawConfigFile() ([]byte, error) {
	rc, err := r.f.blob(r.ctx, r.m.Config)
	if err != nil {
		return nil, classify(err, "reading", r.host, r.shown)
	}
	return image.ReadVerified(rc, r.m.Config, image.MaxJSON)
}

func (r *remoteCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range r.m.Layers {
		if l.Digest == h {
			return &remoteLayer{core: r, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the manifest of %s", h, r.shown)
}

type remoteLayer struct {
	core *remoteCore
	desc v1.Descriptor
}

func (l *remoteLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *remoteLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *remoteLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *remoteLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.core.f.blob(l.core.ctx, l.desc)
	if err != nil {
		return nil, classify(err, "reading", l.core.host, l.core.shown)
	}
	return image.Verify(rc, l.desc)
}

// blob GETs a blob and returns its body, which the caller verifies.
func (f *repoFetcher) blob(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	if d.Size < 0 {
		return nil, fmt.Errorf("blob %s: negative size", d.Digest)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/blobs/"+d.Digest.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, err
	}
	if resp.ContentLength >= 0 && resp.ContentLength != d.Size {
		resp.Body.Close()
		return nil, fmt.Errorf("blob %s: registry sent %d bytes, expected %d", d.Digest, resp.ContentLength, d.Size)
	}
	return resp.Body, nil
}
