package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/image"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// BlobSink is where pulled content goes; the local store satisfies it.
// WriteBlob must verify the digest (and size when >= 0) before keeping the
// bytes, and be a no-op for a blob already present.
type BlobSink interface {
	HasBlob(h v1.Hash) bool
	WriteBlob(ctx context.Context, h v1.Hash, size int64, r io.Reader) error
}

// BlobFileSink is implemented by sinks that can take a complete, verified
// file by renaming it in (same filesystem), which saves copying a layer a
// second time. The sink may still re-verify.
type BlobFileSink interface {
	AdoptBlob(ctx context.Context, h v1.Hash, size int64, path string) error
}

// BlobWriterSink is implemented by sinks that take a blob as a stream and
// verify its digest themselves on Commit (the store's BlobWriter). A pull
// feeds it while downloading, so each byte is written to the store once.
type BlobWriterSink interface {
	NewBlobWriter() (BlobWriter, error)
}

// BlobWriter is a sink's writer for one blob.
type BlobWriter interface {
	io.Writer
	Commit(expected v1.Hash) (v1.Hash, int64, error) // verifies, then keeps
	Abort()
}

// Progress receives per-blob events: Docker's status words ("Pulling fs
// layer", "Already exists", "Downloading", "Verifying Checksum", "Download
// complete", "Pull complete", "Retrying") and byte counts. id is the short
// (12 hex) digest Docker shows. Calls come from several goroutines.
type Progress interface {
	Status(id, status string)
	Bytes(id string, done, total int64)
}

type nopProgress struct{}

func (nopProgress) Status(string, string)      {}
func (nopProgress) Bytes(string, int64, int64) {}

// PullOptions tune one pull. The zero value pulls this machine's platform
// with the configured concurrency and no resume area.
type PullOptions struct {
	Platform   *v1.Platform // nil: this machine's
	Jobs       int          // parallel blob downloads; 0: settings' max-concurrent-downloads
	PartialDir string       // where interrupted downloads are kept to be resumed; "" disables resume across runs
	Progress   Progress
}

// PullResult says what was pulled.
type PullResult struct {
	Desc     v1.Descriptor   // what the reference names: an index or an image manifest
	Image    v1.Descriptor   // the image manifest for the platform
	Manifest *v1.Manifest    // the image manifest, parsed
	Config   v1.Descriptor   // its config (Docker's image ID)
	Layers   []v1.Descriptor // its layers
	Registry string          // the host that served it (a mirror or the origin)
	Fetched  int             // blobs downloaded (0: everything was present)
}

// maxManifestSize bounds a manifest or index read from a registry, as
// containerd and distribution do (4 MiB).
const maxManifestSize = 4 << 20

var manifestAccept = strings.Join([]string{
	string(types.OCIImageIndex), string(types.DockerManifestList),
	string(types.OCIManifestSchema1), string(types.DockerManifestSchema2),
}, ", ")

// Pull fetches ref's manifest (choosing the platform from an index), then
// every blob sink lacks, in parallel, verifying each before it enters sink.
// Manifests are written last so the sink never holds a manifest whose blobs
// are missing. Docker Hub names try the configured mirrors first.
func (c *Client) Pull(ctx context.Context, ref name.Reference, sink BlobSink, o PullOptions) (*PullResult, error) {
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	if o.Jobs <= 0 {
		o.Jobs = c.settings.MaxConcurrentDownloads
	}
	var res *PullResult
	err := c.tryCandidates(ctx, ref, func(repo name.Repository) (err error) {
		res, err = c.pullFrom(ctx, repo, ref, sink, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// tryCandidates runs try on each place ref may be found (the mirrors for a
// Docker Hub name, then the origin) until one succeeds. A mirror that fails
// is logged and passed over; the origin's failure is the error.
func (c *Client) tryCandidates(ctx context.Context, ref name.Reference, try func(repo name.Repository) error) error {
	var firstErr error
	for _, repo := range c.candidates(ref.Context()) {
		err := try(repo)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if repo.RegistryStr() != ref.Context().RegistryStr() {
			c.log.Debug("mirror failed", "registry", repo.RegistryStr(), "err", err)
			continue
		}
		firstErr = err
	}
	return c.withUser(ctx, firstErr)
}

// withUser notes on an auth failure who the saved credentials name.
func (c *Client) withUser(ctx context.Context, err error) error {
	var re *Error
	if errors.As(err, &re) && re.Cause == CauseAuth {
		if e, gerr := c.creds.Get(ctx, re.Host); gerr == nil && e.Username != "" {
			re.User = e.Username
		}
	}
	return err
}

// candidates lists where to look for repo: each mirror, then the origin.
// Mirrors apply to Docker Hub only, as in Docker.
func (c *Client) candidates(repo name.Repository) []name.Repository {
	var out []name.Repository
	if repo.RegistryStr() == name.DefaultRegistry {
		for _, m := range c.settings.RegistryMirrors {
			host, err := mirrorHost(m)
			if err != nil {
				continue
			}
			r, err := name.NewRepository(host+"/"+repo.RepositoryStr(), name.WeakValidation)
			if err == nil {
				out = append(out, r)
			}
		}
	}
	return append(out, repo)
}

// repoFetcher issues authenticated GETs against one repository.
type repoFetcher struct {
	client *http.Client
	base   string // scheme://host/v2/REPO
}

func (c *Client) fetcher(ctx context.Context, repo name.Repository, scopes ...string) (*repoFetcher, error) {
	rt, scheme, err := c.authTransport(ctx, repo, scopes...)
	if err != nil {
		return nil, err
	}
	return &repoFetcher{
		client: &http.Client{Transport: rt},
		base:   fmt.Sprintf("%s://%s/v2/%s", scheme, repo.RegistryStr(), repo.RepositoryStr()),
	}, nil
}

func (c *Client) pullFrom(ctx context.Context, repo name.Repository, ref name.Reference, sink BlobSink, o PullOptions) (*PullResult, error) {
	host := repo.RegistryStr()
	shown := host + "/" + repo.RepositoryStr() + refSuffix(ref)
	f, err := c.fetcher(ctx, repo, transport.PullScope)
	if err != nil {
		return nil, classify(err, "pulling", host, shown)
	}
	raw, desc, err := f.manifest(ctx, ref.Identifier())
	if err != nil {
		return nil, classify(err, "pulling", host, shown)
	}
	res := &PullResult{Desc: desc, Image: desc, Registry: host}
	imgRaw := raw
	if desc.MediaType.IsIndex() {
		child, err := pickPlatform(raw, o.Platform)
		if err != nil {
			return nil, &Error{Cause: CauseOther, Host: host, Ref: shown, Op: "pulling", Err: err}
		}
		imgRaw, res.Image, err = f.manifest(ctx, child.Digest.String())
		if err != nil {
			return nil, classify(err, "pulling", host, shown)
		}
		if res.Image.Digest != child.Digest {
			return nil, fmt.Errorf("pulling %s: manifest %s: digest mismatch", shown, child.Digest)
		}
		res.Image.Platform = child.Platform
	} else if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("pulling %s: unsupported manifest media type %s", shown, untrusted.Quote(string(desc.MediaType)))
	}
	var m v1.Manifest
	if err := json.Unmarshal(imgRaw, &m); err != nil {
		return nil, fmt.Errorf("pulling %s: invalid image manifest: %w", shown, err)
	}
	res.Manifest, res.Config, res.Layers = &m, m.Config, m.Layers
	n, err := c.fetchBlobs(ctx, f, &m, sink, o)
	res.Fetched = n
	if err != nil {
		return nil, classify(err, "pulling", host, shown)
	}
	if err := sink.WriteBlob(ctx, res.Image.Digest, int64(len(imgRaw)), bytes.NewReader(imgRaw)); err != nil {
		return nil, fmt.Errorf("storing manifest %s: %w", res.Image.Digest, err)
	}
	if desc.MediaType.IsIndex() {
		if err := sink.WriteBlob(ctx, desc.Digest, int64(len(raw)), bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("storing index %s: %w", desc.Digest, err)
		}
	}
	return res, nil
}

func refSuffix(ref name.Reference) string {
	if _, ok := ref.(name.Digest); ok {
		return "@" + ref.Identifier()
	}
	return ":" + ref.Identifier()
}

// manifest GETs a manifest by tag or digest, retrying what a registry under
// load or a broken connection makes fail (5xx, 429, reset) a few times with
// a growing pause, as the blob transfers do.
func (f *repoFetcher) manifest(ctx context.Context, ident string) ([]byte, v1.Descriptor, error) {
	for attempt := 1; ; attempt++ {
		raw, d, err := f.manifestOnce(ctx, ident)
		if err == nil || attempt >= maxAttempts || ctx.Err() != nil || !transient(err) {
			return raw, d, err
		}
		select {
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		case <-ctx.Done():
			return nil, v1.Descriptor{}, ctx.Err()
		}
	}
}

// manifestOnce GETs a manifest, reads at most maxManifestSize bytes and
// checks the digest when the reference is one.
func (f *repoFetcher) manifestOnce(ctx context.Context, ident string) ([]byte, v1.Descriptor, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/manifests/"+ident, nil)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, v1.Descriptor{}, err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("reading manifest: %w", err)
	}
	if len(raw) > maxManifestSize {
		return nil, v1.Descriptor{}, fmt.Errorf("manifest larger than %d bytes", maxManifestSize)
	}
	sum := sha256.Sum256(raw)
	d := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if strings.HasPrefix(ident, "sha256:") && ident != d.String() {
		return nil, v1.Descriptor{}, fmt.Errorf("manifest %s: registry sent content with digest %s", ident, d)
	}
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	_ = json.Unmarshal(raw, &probe)
	mt := probe.MediaType
	if mt == "" {
		mt = types.MediaType(strings.TrimSpace(strings.Split(resp.Header.Get("Content-Type"), ";")[0]))
	}
	if mt.IsSchema1() {
		return nil, v1.Descriptor{}, fmt.Errorf("manifest %s uses the deprecated schema 1 format, which berth does not pull", ident)
	}
	return raw, v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d}, nil
}

// pickPlatform chooses the child of the index raw for want (nil: this
// machine's) by image.PickManifest's rules. "--platform linux" means this
// machine's architecture.
func pickPlatform(raw []byte, want *v1.Platform) (v1.Descriptor, error) {
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return v1.Descriptor{}, fmt.Errorf("invalid index: %w", err)
	}
	if want != nil && (want.OS == "" || want.Architecture == "") {
		w, h := *want, image.HostPlatform()
		if w.OS == "" {
			w.OS = h.OS
		}
		if w.Architecture == "" {
			w.Architecture, w.Variant = h.Architecture, h.Variant
		}
		want = &w
	}
	return image.PickManifest(&idx, want, nil)
}

// ShortID is Docker's 12-hex display form of a digest.
func ShortID(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Hex[:12]
	}
	return h.Hex
}

// holds reports whether sink has h and, when the sink can (the local
// store's Protect), keeps it there: another berth process may be
// collecting garbage between this answer and the pull's end.
func holds(sink BlobSink, h v1.Hash) bool {
	if p, ok := sink.(interface{ Protect(v1.Hash) (bool, error) }); ok {
		ok, err := p.Protect(h)
		return err == nil && ok
	}
	return sink.HasBlob(h)
}

// fetchBlobs downloads the config and layers sink lacks, Jobs at a time.
func (c *Client) fetchBlobs(ctx context.Context, f *repoFetcher, m *v1.Manifest, sink BlobSink, o PullOptions) (int, error) {
	seen := map[v1.Hash]bool{}
	var todo []v1.Descriptor
	for _, l := range m.Layers {
		if seen[l.Digest] {
			continue
		}
		seen[l.Digest] = true
		if holds(sink, l.Digest) {
			o.Progress.Status(ShortID(l.Digest), "Already exists")
			continue
		}
		o.Progress.Status(ShortID(l.Digest), "Pulling fs layer")
		todo = append(todo, l)
	}
	// Like Docker, layers past the download limit say they wait their turn.
	for _, l := range todo[min(o.Jobs, len(todo)):] {
		o.Progress.Status(ShortID(l.Digest), "Waiting")
	}
	if !seen[m.Config.Digest] && !holds(sink, m.Config.Digest) {
		todo = append(todo, m.Config)
	}
	var fetched atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Jobs)
	for _, d := range todo {
		g.Go(func() error {
			if err := c.fetchBlob(gctx, f, d, sink, o); err != nil {
				return err
			}
			fetched.Add(1)
			return nil
		})
	}
	err := g.Wait()
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return int(fetched.Load()), err
}

// errDigest marks content whose digest or size did not match.
var errDigest = errors.New("digest mismatch")
