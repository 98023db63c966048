package vulndb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/fsutil"
)

// The database travels as an OCI image manifest whose config media type names
// it and whose single layer is the bbolt file, so any registry (berth's own,
// distribution, a cloud registry) can hold and mirror it like an image.
const (
	ConfigMediaType types.MediaType = "application/vnd.berth.scan.vulndb.config.v1+json"
	LayerMediaType  types.MediaType = "application/vnd.berth.scan.vulndb.v1.bolt"
)

// annotationEcosystems lists, comma separated, the ecosystems a pushed
// database has records or severities of, so an update can tell whether a
// mirror is worth pulling before it pulls it.
const annotationEcosystems = "dev.berth.scan.vulndb.ecosystems"

// maxPulledDB bounds the layer Pull accepts.
const maxPulledDB = 8 << 30

// Push uploads the database at dbPath to ref and returns the manifest digest.
func Push(ctx context.Context, dbPath string, ref name.Reference, opts ...remote.Option) (v1.Hash, error) {
	db, err := Open(ctx, dbPath) // holds a shared lock: no import rewrites it meanwhile
	if err != nil {
		return v1.Hash{}, err
	}
	defer db.Close()
	st, err := db.Status()
	if err != nil {
		return v1.Hash{}, err
	}
	fl, err := newFileLayer(dbPath)
	if err != nil {
		return v1.Hash{}, err
	}
	layer, err := partial.CompressedToLayer(fl)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return v1.Hash{}, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, ConfigMediaType)
	var ecos []string
	seen := map[string]bool{}
	for _, s := range st.Sources {
		names := []string{}
		for e := range s.Ecosystems {
			names = append(names, e)
		}
		if s.Kind == KindExport {
			names = append(names, s.Name)
		}
		for _, e := range names {
			if !seen[e] && !strings.Contains(e, ",") {
				seen[e] = true
				ecos = append(ecos, e)
			}
		}
	}
	sort.Strings(ecos)
	img = mutate.Annotations(img, map[string]string{
		annotationEcosystems:                strings.Join(ecos, ","),
		"org.opencontainers.image.created":  time.Now().UTC().Format(time.RFC3339),
		"dev.berth.scan.vulndb.records":     fmt.Sprint(st.Records),
		"dev.berth.scan.vulndb.newest":      st.Newest.UTC().Format(time.RFC3339),
		"org.opencontainers.image.title":    "berth vulnerability database",
		"org.opencontainers.image.licenses": "see the sources' own licenses (osv.dev data is CC-BY-4.0 or as stated per record)",
	}).(v1.Image)
	if err := remote.Write(ref, img, append(opts, remote.WithContext(ctx))...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing vulnerability database to %s: %w", ref, err)
	}
	return img.Digest()
}

// Pull downloads the database at ref, verifies it and atomically replaces
// the one at dbPath.
func Pull(ctx context.Context, dbPath string, ref name.Reference, opts ...remote.Option) (Status, error) {
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return Status{}, err
	}
	// Builds and pulls of one database take turns; a scan reading the
	// current file keeps it to the end once the pulled one is renamed over.
	unlock, err := fsutil.LockContext(ctx, lockPath(dbPath))
	if err != nil {
		return Status{}, fmt.Errorf("locking vulnerability database: %w", err)
	}
	defer unlock()
	removeStaleBuilds(dbPath)
	tmp, err := pullFile(ctx, dbPath, ref, nil, opts...)
	if err != nil {
		return Status{}, err
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		os.Remove(tmp)
		return Status{}, err
	}
	if err := fsutil.SyncDir(filepath.Dir(dbPath)); err != nil {
		return Status{}, err
	}
	db, err := Open(ctx, dbPath)
	if err != nil {
		return Status{}, err
	}
	defer db.Close()
	return db.Status()
}

// pullFile downloads the database at ref into a new file beside dbPath
// (the caller holds the lock), verified against its digest and checked to
// be a database, and returns its path; the caller renames or removes it.
func pullFile(ctx context.Context, dbPath string, ref name.Reference, progress Progress, opts ...remote.Option) (string, error) {
	if progress == nil {
		progress = noProgress{}
	}
	id := ref.String()
	img, err := remote.Image(ref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return "", fmt.Errorf("pulling vulnerability database %s: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return "", fmt.Errorf("pulling vulnerability database %s: %w", ref, err)
	}
	if m.Config.MediaType != ConfigMediaType || len(m.Layers) != 1 || m.Layers[0].MediaType != LayerMediaType {
		return "", fmt.Errorf("%s is not a berth vulnerability database (config media type %q)", ref, m.Config.MediaType)
	}
	want := m.Layers[0]
	if want.Size > maxPulledDB || want.Size < 0 {
		return "", fmt.Errorf("%s: database layer of %d bytes is out of bounds", ref, want.Size)
	}
	layer, err := img.LayerByDigest(want.Digest)
	if err != nil {
		return "", err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", want.Digest, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dbPath), buildPrefix+filepath.Base(dbPath)+"-")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	progress.Status(id, StatusDownloading)
	h := sha256.New()
	n, err := copyProgress(io.MultiWriter(tmp, h), io.LimitReader(rc, want.Size+1), func(n int64) { progress.Bytes(id, n, want.Size) })
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", want.Digest, err)
	}
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	if n != want.Size || got != want.Digest {
		return "", fmt.Errorf("database layer from %s does not match its digest %s (got %s, %d bytes)", ref, want.Digest, got, n)
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// Check it is a database before it replaces the current one.
	if err := checkFile(ctx, tmp.Name()); err != nil {
		return "", fmt.Errorf("pulled database from %s: %w", ref, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	ok = true
	return tmp.Name(), nil
}

func checkFile(ctx context.Context, path string) error {
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("not a bbolt file: %w", err)
	}
	defer b.Close()
	return b.View(checkSchema)
}

// fileLayer streams the database file as a layer blob, so pushing a
// multi-gigabyte database does not hold it in memory.
type fileLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

func newFileLayer(path string) (*fileLayer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return &fileLayer{path: path, size: n, digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}}, nil
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return LayerMediaType, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

// DiffID is the digest: the blob is not compressed.
func (l *fileLayer) DiffID() (v1.Hash, error) { return l.digest, nil }
