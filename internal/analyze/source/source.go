package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/berth-dev/berth/internal/image"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Kind names a source, as `--source` and the `KIND:` prefix spell it.
type Kind string

const (
	DockerArchive Kind = "docker-archive"
	OCIArchive    Kind = "oci-archive"
	OCILayout     Kind = "oci"
	Registry      Kind = "registry"
	Store         Kind = "berth" // the local store
)

// Kinds lists the accepted source names.
var Kinds = []Kind{Store, DockerArchive, OCIArchive, OCILayout, Registry}

// ErrUnknownSource is returned for a source name berth does not know.
var ErrUnknownSource = errors.New("unknown image source")

// Image is an opened image and what the analysis needs to know about it.
type Image struct {
	v1.Image
	Kind Kind
	Name string // what was asked for, without the kind prefix
	// StoredBlobs: layer Compressed() streams are the stored blobs and the
	// analysis decompresses them itself.
	StoredBlobs bool
	// Verified: layer Uncompressed() streams check each layer against the
	// config's diff ID (the local store's), so the analysis reads those.
	Verified bool
	closers  []io.Closer
}

// Close releases files the source holds open.
func (i *Image) Close() error {
	var err error
	for _, c := range i.closers {
		err = errors.Join(err, c.Close())
	}
	return err
}

// StoreOpener opens an image in berth's store; the CLI supplies it so this
// package stays free of the store's wiring.
type StoreOpener func(ctx context.Context, name string, platform *v1.Platform) (v1.Image, error)

// Options say how to open a source.
type Options struct {
	Kind     Kind         // from --source; "" to derive from the argument
	Platform *v1.Platform // nil: this machine's
	Store    StoreOpener
}

// Split separates a "KIND:REST" or "KIND://REST" argument; kind is "" when
// arg has no known prefix. "registry:5000/app" is a host and port (a
// registry host named "registry" is common in compose setups), not a prefix.
func Split(arg string) (Kind, string) {
	for _, k := range Kinds {
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
	// dive's own spellings.
	if rest, ok := strings.CutPrefix(arg, "docker://"); ok {
		return Store, rest
	}
	return "", arg
}

// isPortPath reports "5000/..." : digits then a slash.
func isPortPath(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && i < len(s) && s[i] == '/'
}

// Open resolves arg and opens the image.
func Open(ctx context.Context, arg string, opts Options) (*Image, error) {
	kind, rest := Split(arg)
	if kind == "" {
		kind = opts.Kind
	}
	if kind == "docker" || kind == "podman" {
		kind = Store
	}
	if kind == "" {
		kind = detect(rest)
	}
	switch kind {
	case DockerArchive:
		return openDockerArchive(rest, opts)
	case OCIArchive:
		return openOCIArchive(rest, opts)
	case OCILayout:
		return openLayout(rest, opts)
	case Registry:
		return openRegistry(ctx, rest, opts)
	case Store:
		if opts.Store == nil {
			return nil, fmt.Errorf("%w: the local store is not available", ErrUnknownSource)
		}
		img, err := opts.Store(ctx, rest, opts.Platform)
		if err != nil {
			return nil, err
		}
		return &Image{Image: img, Kind: Store, Name: rest, StoredBlobs: true, Verified: true}, nil
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownSource, kind, kindList())
}

func kindList() string {
	var s []string
	for _, k := range Kinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// detect picks a source for an argument without a prefix: an existing
// directory is an OCI layout, an existing file is an archive (its content
// says which), anything else is a name in the store.
func detect(arg string) Kind {
	fi, err := os.Stat(arg)
	if err != nil {
		if dir, _, ok := cutTag(arg); ok {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				return OCILayout
			}
		}
		return Store
	}
	if fi.IsDir() {
		return OCILayout
	}
	f, err := os.Open(arg)
	if err != nil {
		return DockerArchive
	}
	defer f.Close()
	idx, err := indexTar(f, true)
	if err == nil && idx.has("oci-layout") && !idx.has("manifest.json") {
		return OCIArchive
	}
	return DockerArchive
}

// cutTag splits "DIR:TAG" when TAG has no slash (a path may contain ':').
func cutTag(s string) (string, string, bool) {
	i := strings.LastIndex(s, ":")
	if i <= 0 || strings.Contains(s[i+1:], "/") {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func openDockerArchive(path string, opts Options) (*Image, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("opening docker archive: %w", err)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		// An archive of several images: take the first, as `docker load` lists it.
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
	return &Image{Image: img, Kind: DockerArchive, Name: path}, nil
}

func openRegistry(ctx context.Context, s string, opts Options) (*Image, error) {
	var nopts []name.Option
	if insecureHost(s) {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(s, nopts...)
	if err != nil {
		return nil, fmt.Errorf("invalid reference format: %s", s)
	}
	p := image.HostPlatform()
	if opts.Platform != nil {
		p = *opts.Platform
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithPlatform(p),
		remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("berth"))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", ref, err)
	}
	return &Image{Image: img, Kind: Registry, Name: s, StoredBlobs: true}, nil
}

// insecureHost reports a registry on this machine, reached over plain HTTP
// as Docker does for localhost and 127.0.0.0/8.
func insecureHost(s string) bool {
	host, _, _ := strings.Cut(s, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
