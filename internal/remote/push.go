package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
)

// PushOptions tune one push. The zero value uses the configured concurrency
// and no cross-repository mounts.
type PushOptions struct {
	Jobs     int // parallel uploads; 0: settings' max-concurrent-uploads
	Progress Progress
	// MountFrom names repositories that hold a blob, so the registry can
	// link it into the target without an upload. Only repositories on the
	// target's registry are used.
	MountFrom func(v1.Hash) []name.Repository
}

// PushResult is what Docker prints after a push: the manifest digest and its
// size in bytes.
type PushResult struct {
	Digest v1.Hash
	Size   int64
}

// Push uploads img (a v1.Image or v1.ImageIndex) to ref: each blob the
// registry lacks (checked with HEAD), mounted from another repository when
// possible, in parallel, then the manifest.
func (c *Client) Push(ctx context.Context, ref name.Reference, t remote.Taggable, o PushOptions) (*PushResult, error) {
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	if o.Jobs <= 0 {
		o.Jobs = c.settings.MaxConcurrentUploads
	}
	host := ref.Context().RegistryStr()
	shown := host + "/" + ref.Context().RepositoryStr() + refSuffix(ref)
	res, err := c.push(ctx, ref, t, o)
	if err != nil {
		return nil, c.withUser(ctx, classify(err, "pushing", host, shown))
	}
	return res, nil
}

func (c *Client) push(ctx context.Context, ref name.Reference, t remote.Taggable, o PushOptions) (*PushResult, error) {
	repo, _, err := c.repo(ctx, ref.Context())
	if err != nil {
		return nil, err
	}
	ref, err = rebind(ref, repo)
	if err != nil {
		return nil, err
	}
	f, err := c.fetcher(ctx, repo, transport.PushScope)
	if err != nil {
		return nil, err
	}
	// The fetcher's transport is already authenticated (and holds the
	// token for this repository); go-containerregistry rides on it.
	pusher, err := remote.NewPusher(
		remote.WithTransport(f.client.Transport),
		remote.WithJobs(o.Jobs),
		remote.WithContext(ctx),
		remote.WithUserAgent(c.userAgent),
	)
	if err != nil {
		return nil, err
	}
	var imgs []v1.Image
	switch v := t.(type) {
	case v1.Image:
		imgs = []v1.Image{v}
	case v1.ImageIndex:
		im, err := v.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, d := range im.Manifests {
			if !d.MediaType.IsImage() {
				continue
			}
			img, err := v.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("platform %s of the index is not in the local store: %w", d.Digest, err)
			}
			imgs = append(imgs, img)
		}
	}
	// Layers of every image, once each, in order.
	var layers []v1.Layer
	seen := map[v1.Hash]bool{}
	for _, img := range imgs {
		ls, err := img.Layers()
		if err != nil {
			return nil, err
		}
		cl, err := partial.ConfigLayer(img)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			d, err := l.Digest()
			if err != nil {
				return nil, err
			}
			if !seen[d] {
				seen[d] = true
				layers = append(layers, l)
				o.Progress.Status(ShortID(d), "Preparing")
			}
		}
		if d, err := cl.Digest(); err == nil && !seen[d] {
			seen[d] = true
			layers = append(layers, hiddenLayer{cl})
		}
	}
	// Like Docker, layers past the upload limit say they wait their turn.
	shown := 0
	for _, l := range layers {
		if _, hidden := l.(hiddenLayer); hidden {
			continue
		}
		if shown++; shown > o.Jobs {
			if d, err := l.Digest(); err == nil {
				o.Progress.Status(ShortID(d), "Waiting")
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Jobs)
	for _, l := range layers {
		g.Go(func() error { return c.pushBlob(gctx, f, pusher, repo, l, o) })
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	// Blobs are all there now; Push only HEADs them (cached per digest) and
	// writes the manifests.
	if err := pusher.Push(ctx, ref, t); err != nil {
		return nil, err
	}
	raw, err := t.RawManifest()
	if err != nil {
		return nil, err
	}
	d, err := partial.Digest(t.(partial.WithRawManifest))
	if err != nil {
		return nil, err
	}
	return &PushResult{Digest: d, Size: int64(len(raw))}, nil
}

// hiddenLayer is the config blob: pushed like a layer but not shown.
type hiddenLayer struct{ v1.Layer }

func rebind(ref name.Reference, repo name.Repository) (name.Reference, error) {
	if d, ok := ref.(name.Digest); ok {
		return repo.Digest(d.DigestStr()), nil
	}
	return repo.Tag(ref.Identifier()), nil
}

// pushBlob uploads one blob unless the registry has it, reporting Docker's
// per-layer outcome: "Layer already exists", "Mounted from REPO" or "Pushed".
func (c *Client) pushBlob(ctx context.Context, f *repoFetcher, p *remote.Pusher, repo name.Repository, l v1.Layer, o PushOptions) error {
	hidden := false
	if h, ok := l.(hiddenLayer); ok {
		hidden, l = true, h.Layer
	}
	d, err := l.Digest()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return err
	}
	id := ShortID(d)
	status := func(s string) {
		if !hidden {
			o.Progress.Status(id, s)
		}
	}
	exists, err := f.hasBlob(ctx, d)
	if err != nil {
		return err
	}
	if exists {
		status("Layer already exists")
		return nil
	}
	tl := &trackedLayer{Layer: l, progress: func(n int64) {
		if !hidden {
			o.Progress.Bytes(id, n, size)
		}
	}}
	var up v1.Layer = tl
	var from name.Repository
	if o.MountFrom != nil {
		for _, r := range o.MountFrom(d) {
			if r.RegistryStr() == repo.RegistryStr() && r.RepositoryStr() != repo.RepositoryStr() {
				from = r
				up = &remote.MountableLayer{Layer: tl, Reference: repo.Registry.Repo(r.RepositoryStr()).Digest(d.String())}
				break
			}
		}
	}
	status("Pushing")
	if err := p.Upload(ctx, repo, up); err != nil {
		return fmt.Errorf("uploading blob %s: %w", d, err)
	}
	if tl.opened.Load() {
		status("Pushed")
	} else if from.RepositoryStr() != "" {
		status("Mounted from " + from.RepositoryStr())
	} else {
		status("Layer already exists")
	}
	return nil
}

// hasBlob HEADs a blob in the repository.
func (f *repoFetcher) hasBlob(ctx context.Context, d v1.Hash) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, f.base+"/blobs/"+d.String(), nil)
	if err != nil {
		return false, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, transport.CheckError(resp, http.StatusOK, http.StatusNotFound)
}

// trackedLayer notes whether its bytes were read (so a mount can be told
// from an upload) and reports upload progress.
type trackedLayer struct {
	v1.Layer
	opened   atomic.Bool
	progress func(int64)
}

func (t *trackedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := t.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	t.opened.Store(true)
	return &countingReader{rc: rc, fn: t.progress}, nil
}

type countingReader struct {
	rc io.ReadCloser
	n  int64
	fn func(int64)
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.n += int64(n)
	if n > 0 {
		r.fn(r.n)
	}
	return n, err
}

func (r *countingReader) Close() error { return r.rc.Close() }
