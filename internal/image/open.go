package image

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// SourceKind names where an image is read from, as dive's `--source` and
// the `KIND:` prefix of an argument spell it.
type SourceKind string

const (
	SourceStore         SourceKind = "berth" // the local store
	SourceDockerArchive SourceKind = "docker-archive"
	SourceOCIArchive    SourceKind = "oci-archive"
	SourceOCILayout     SourceKind = "oci"
	SourceRegistry      SourceKind = "registry"
)

// SourceKinds lists the accepted source names.
var SourceKinds = []SourceKind{SourceStore, SourceDockerArchive, SourceOCIArchive, SourceOCILayout, SourceRegistry}

var (
	// ErrUnknownSource is returned for a source name berth does not know.
	ErrUnknownSource = errors.New("unknown image source")
	// ErrNotFound is wrapped when a store or registry has no such image.
	// StoreReader implementations wrap it for a name they do not hold.
	ErrNotFound = errors.New("no such image")
	// ErrNotLayout is wrapped for a directory that is not an OCI layout.
	ErrNotLayout = errors.New("not an OCI image layout")
)

// StoreReader opens an image of the local store. cli supplies it (over
// internal/store), so that the model does not depend on the store.
type StoreReader interface {
	// StoreImage opens name (Docker's lookup rules: name[:tag],
	// name@digest, ID or ID prefix) for platform (nil: this machine's).
	// A name the store does not hold is an error wrapping ErrNotFound.
	StoreImage(ctx context.Context, name string, platform *v1.Platform) (v1.Image, error)
}

// RegistryReader opens an image in a registry without storing it. cli
// supplies it (over internal/remote, berth's own client with all its
// settings).
type RegistryReader interface {
	// RegistryImage opens ref (a Docker reference: "nginx" is Docker Hub's
	// library/nginx:latest) for platform (nil: this machine's), fetching
	// the manifest now and the config and layers lazily.
	RegistryImage(ctx context.Context, ref string, platform *v1.Platform) (v1.Image, error)
}

// OpenOptions say how to open an image. The zero value opens files and
// layouts only.
type OpenOptions struct {
	Kind     SourceKind   // from a --source flag; "" derives it from the argument
	Platform *v1.Platform // nil: this machine's
	Store    StoreReader
	Registry RegistryReader
	// RegistryFallback reads a plain name that the store does not hold
	// from its registry, as `trivy image` and `docker scout` do; without
	// it such a name is an error wrapping ErrNotFound.
	RegistryFallback bool
}

// Opened is an image opened from a source: a lazy v1.Image (layers are read
// when asked for, each once) and what callers need to know about where it
// came from.
type Opened struct {
	v1.Image
	Kind SourceKind
	Name string // what was asked for, without the kind prefix
	// StoredBlobs: the layers' Compressed() streams are the blobs as the
	// source keeps them (gzip, zstd or plain tar), to be decompressed by
	// the reader (image.Decompress); otherwise read Uncompressed().
	StoredBlobs bool
	// Verified: the layers' Uncompressed() streams check each layer against
	// the config's diff ID — the store's (once, then known) and a
	// registry's (through checkDiffIDs: the layers are downloaded and
	// decompressed anyway, and hashing adds a fifth) — so readers take
	// those. Archives and layouts on local disk are read as they are, as
	// dive reads them: hashing each of their layers on every read would
	// cost five times the CPU of the analysis itself (bench/dive.sh).
	Verified bool
	closers  []io.Closer
}

// Close releases files the source holds open.
func (o *Opened) Close() error {
	var err error
	for _, c := range o.closers {
		err = errors.Join(err, c.Close())
	}
	o.closers = nil
	return err
}

// SplitSource separates a "KIND:REST" or "KIND://REST" argument; kind is ""
// when arg has no known prefix. "registry:5000/app" is a host and port (a
// registry host named "registry" is common in compose setups), not a
// prefix. dive's "docker://NAME" means the local store.
func SplitSource(arg string) (SourceKind, string) {
	for _, k := range SourceKinds {
		for _, sep := range []string{"://", ":"} {
			if p := string(k) + sep; strings.HasPrefix(arg, p) {
				rest := arg[len(p):]
				if sep == ":" && isPortPath(rest) {
					return "", arg
				}
				return k, rest
			}
		}
	}
	if rest, ok := strings.CutPrefix(arg, "docker://"); ok {
		return SourceStore, rest
	}
	return "", arg
}

// isPortPath reports "5000/...": digits then a slash.
func isPortPath(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && i < len(s) && s[i] == '/'
}

// Open resolves arg and opens the image it names. With no prefix and no
// opts.Kind, an existing directory is an OCI layout (DIR or DIR:TAG), an
// existing file an archive (its content says Docker or OCI), anything that
// looks like a path but does not exist an error naming it, and anything
// else a name in the store (then, with RegistryFallback, in its registry).
func Open(ctx context.Context, arg string, opts OpenOptions) (*Opened, error) {
	kind, rest := SplitSource(arg)
	if kind == "" {
		kind = opts.Kind
	}
	if kind == "docker" || kind == "podman" { // dive's names for the daemon
		kind = SourceStore
	}
	if kind == "" {
		var err error
		if kind, err = detect(rest); err != nil {
			return nil, err
		}
		if kind == SourceStore {
			return openName(ctx, rest, opts)
		}
	}
	switch kind {
	case SourceDockerArchive:
		return openDockerArchive(rest)
	case SourceOCIArchive:
		return openOCIArchive(rest, opts.Platform)
	case SourceOCILayout:
		return openLayout(rest, opts.Platform)
	case SourceRegistry:
		return openRegistry(ctx, rest, opts)
	case SourceStore:
		return openStore(ctx, rest, opts)
	}
	return nil, fmt.Errorf("%w %s (want one of %s)", ErrUnknownSource, untrusted.Quote(string(kind)), kindList())
}

func kindList() string {
	var s []string
	for _, k := range SourceKinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// detect picks the source of an argument without a prefix.
func detect(arg string) (SourceKind, error) {
	fi, err := os.Stat(arg)
	if err != nil {
		// DIR:TAG is a layout's tagged image only when DIR is a layout: a
		// folder named like the image (`cd myapp && berth scan myapp:1`)
		// does not hide the image.
		if dir, _, ok := cutTag(arg); ok && isLayout(dir) {
			return SourceOCILayout, nil
		}
		if looksLikePath(arg) {
			// Meant as a file: say so rather than "invalid reference format".
			return "", fmt.Errorf("reading image archive: %w", err)
		}
		return SourceStore, nil
	}
	if fi.IsDir() {
		if !isLayout(arg) {
			return "", fmt.Errorf("%s is a directory but %w (no index.json)", arg, ErrNotLayout)
		}
		return SourceOCILayout, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", arg, err)
	}
	defer f.Close()
	idx, err := indexTar(f, true)
	if err == nil && idx.has("oci-layout") && !idx.has("manifest.json") {
		return SourceOCIArchive, nil
	}
	return SourceDockerArchive, nil
}

func isLayout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "index.json"))
	return err == nil
}

// looksLikePath reports an argument that can only be meant as a file: no
// image reference starts with "/" or "." or ends with an archive suffix.
func looksLikePath(s string) bool {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") {
		return true
	}
	for _, suf := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz"} {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}

// cutTag splits "DIR:TAG" when TAG has no slash (a path may contain ':').
func cutTag(s string) (string, string, bool) {
	i := strings.LastIndex(s, ":")
	if i <= 0 || strings.Contains(s[i+1:], "/") {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// openName opens a plain name: the store first, then (with
// RegistryFallback) its registry.
func openName(ctx context.Context, s string, opts OpenOptions) (*Opened, error) {
	if opts.Store != nil {
		o, err := openStore(ctx, s, opts)
		if err == nil || !errors.Is(err, ErrNotFound) || !opts.RegistryFallback || opts.Registry == nil {
			return o, err
		}
	} else if !opts.RegistryFallback || opts.Registry == nil {
		return nil, fmt.Errorf("%w: the local store is not available", ErrUnknownSource)
	}
	o, err := openRegistry(ctx, s, opts)
	if err != nil {
		return nil, fmt.Errorf("%s is not in the local store and could not be read from its registry: %w", s, err)
	}
	return o, nil
}

func openStore(ctx context.Context, s string, opts OpenOptions) (*Opened, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("%w: the local store is not available", ErrUnknownSource)
	}
	img, err := opts.Store.StoreImage(ctx, s, opts.Platform)
	if err != nil {
		return nil, err
	}
	return &Opened{Image: img, Kind: SourceStore, Name: s, StoredBlobs: true, Verified: true}, nil
}

func openRegistry(ctx context.Context, s string, opts OpenOptions) (*Opened, error) {
	if opts.Registry == nil {
		return nil, fmt.Errorf("%w: registries are not available here", ErrUnknownSource)
	}
	if _, err := name.ParseReference(s, name.WeakValidation); err != nil {
		return nil, fmt.Errorf("invalid reference format: %s", s)
	}
	img, err := opts.Registry.RegistryImage(ctx, s, opts.Platform)
	if err != nil {
		return nil, err
	}
	return &Opened{Image: checkDiffIDs(img), Kind: SourceRegistry, Name: s, StoredBlobs: true, Verified: true}, nil
}

// openDockerArchive reads a `docker save` archive with go-containerregistry's
// tarball reader: its first image, as `docker load` lists them.
func openDockerArchive(path string) (*Opened, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("opening docker archive: %w", err)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		// An archive of several images: take the first.
		m, merr := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
		if merr != nil || len(m) == 0 || len(m[0].RepoTags) == 0 {
			return nil, fmt.Errorf("reading docker archive %s: %w", path, err)
		}
		tag, terr := name.NewTag(m[0].RepoTags[0])
		if terr != nil {
			return nil, fmt.Errorf("reading docker archive %s: %w", path, err)
		}
		if img, err = tarball.ImageFromPath(path, &tag); err != nil {
			return nil, fmt.Errorf("reading docker archive %s: %w", path, err)
		}
	}
	if _, err := img.ConfigFile(); err != nil {
		return nil, fmt.Errorf("reading docker archive %s: %w", path, err)
	}
	return &Opened{Image: img, Kind: SourceDockerArchive, Name: path}, nil
}
