package build

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/internal/dockerfile"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageSource finds the image a FROM (or COPY --from, RUN --mount from=)
// names: in the local store, else through a pull. pull forces a check with
// the registry even when the image is present.
type ImageSource interface {
	Image(ctx context.Context, ref string, platform v1.Platform, pull bool) (v1.Image, error)
}

// BlobStore keeps the blobs the build produces (layers, configs, manifests).
type BlobStore interface {
	HasBlob(h v1.Hash) bool
	OpenBlob(h v1.Hash) (io.ReadCloser, error)
	// PutBlob stores r, verifies it against want when want is not zero,
	// and returns its digest and size.
	PutBlob(ctx context.Context, want v1.Hash, r io.Reader) (v1.Hash, int64, error)
}

// LayerRecorder is implemented by a BlobStore that remembers the digest and
// size of a layer's uncompressed content (the local store): a layer the
// builder wrote is then known to match its diff ID without being read again.
type LayerRecorder interface {
	RecordLayer(digest, diffID v1.Hash, size int64)
}

// Executor runs one RUN step in the stage's root filesystem and writes the
// change set as an uncompressed OCI layer tar to diff.
type Executor interface {
	Run(ctx context.Context, req RunRequest, diff io.Writer) error
}

// RunRequest is one RUN step for an Executor.
type RunRequest struct {
	Layers  []v1.Layer // root filesystem, bottom first; empty for scratch
	Args    []string   // argv, the shell already prepended for shell form
	Env     []string
	Dir     string
	User    string
	Network string   // "default", "none" or "host"
	Hosts   []string // extra /etc/hosts lines ("IP\tNAME"), --add-host
	Mounts  []RunMount
	Output  io.Writer // the command's stdout and stderr
	// TempDir is the build's temp directory (Options.TempDir): whatever
	// the executor makes for the step goes there, so that it goes with
	// the build however the build ends.
	TempDir string
}

// RunMount is one RUN --mount, resolved to host paths by the builder.
type RunMount struct {
	Type     string     // bind, cache, tmpfs, secret
	Source   string     // host path (bind source dir/file, cache dir, secret file); with Layers, a path inside them
	Layers   []v1.Layer // bind from=stage|image: that filesystem, bottom first
	Target   string
	ReadOnly bool
	Mode     uint32
	UID, GID int
	Sharing  string
}

// ExitError is returned by an Executor when the command exits non-zero.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return "exit code: " + itoa(e.Code) }

// Options configure one build. The zero value of every field is the default.
type Options struct {
	File       *dockerfile.File
	ContextDir string             // the build context ("" = none: COPY from context fails)
	Ignore     *dockerfile.Ignore // .dockerignore of the context
	BuildArgs  map[string]string  // --build-arg
	Target     string             // --target; default the last stage
	NoCache    bool
	// CacheFrom are images whose inline cache (InlineCache below, as
	// BuildKit's --cache-from of an image built with
	// BUILDKIT_INLINE_CACHE=1) may serve steps the local cache lacks.
	CacheFrom []string
	// InlineCache records each step's cache key in the built image (a
	// label), so the image can serve as a CacheFrom elsewhere.
	InlineCache bool
	// NoCacheStages are stages (by lower-case name) whose steps run even
	// when cached: --no-cache-filter.
	NoCacheStages map[string]bool
	Pull          bool
	Labels        map[string]string // --label
	Platform      v1.Platform       // target platform; default this machine's
	Network       string            // --network for RUN: default, none, host
	Secrets       map[string]string // --secret id → host file
	SSH           map[string]string // --ssh id → ssh-agent socket
	ExtraHosts    []string          // --add-host, as /etc/hosts lines "IP\tNAME"
	// NamedContexts are --build-context name=value: an image that stands
	// in for FROM name / COPY --from=name / RUN --mount=from=name, or a
	// directory those read files from. Names are lower-case; a stage of
	// the same name wins, as a stage does over an image.
	NamedContexts map[string]NamedContext
	Zstd          bool       // --compression zstd
	Epoch         *time.Time // SOURCE_DATE_EPOCH
	StateDir      string     // ROOT/build: cache and index; "" disables the cache
	// TempDir is the build's own temp directory (Workspace.Dir): every
	// file the build makes for itself goes there. "" is a directory of
	// the system's temp area, made and removed by Build.
	TempDir  string
	Progress io.Writer // plain progress output; nil discards
	Log      *slog.Logger

	Source ImageSource
	Blobs  BlobStore
	Exec   Executor
}

// NamedContext is one --build-context: Image (a reference) or Dir.
type NamedContext struct {
	Image string
	Dir   string
}

// Result is the built image: its manifest is in Blobs with every blob it
// names.
type Result struct {
	Image    v1.Image
	Manifest v1.Descriptor
	ID       v1.Hash // config digest, Docker's image ID
	Steps    int     // progress vertices printed, to number the export step
}
