package build

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/dockerfile"
	"github.com/berth-dev/berth/internal/ref"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The build command's work, as `berth build` and the Engine API's POST
// /build both ask for it: a Request in the words of docker build's flags,
// turned into Options by the rules of request.go and input.go, built, and
// kept under its tags. The front ends only parse their input into a
// Request and render the Result.

// Request is one build as a user asks for it. Its fields are docker
// build's flags, spelled as the user typed them; the zero value of each is
// docker build's default.
type Request struct {
	// Context is a directory, "-" (a tar or a Dockerfile read from
	// Stdin), a Git URL (cloned) or an http(s) URL (a tar or a
	// Dockerfile).
	Context string
	Stdin   io.Reader // what "-" reads: the terminal's stdin, or the API request's body
	// Dockerfile is -f: "" for the context's Dockerfile, "-" for Stdin, a
	// path (inside the context when the context is fetched).
	Dockerfile    string
	Tags          []string // names to keep the image under, already checked by the caller
	BuildArgs     []string // --build-arg NAME[=VALUE]
	Labels        []string // --label KEY[=VALUE]
	Target        string
	NoCache       bool
	NoCacheFor    []string // --no-cache-filter STAGE
	Pull          bool
	Platform      *v1.Platform // nil: this machine's
	Network       string       // --network for RUN: default, none, host ("" is default)
	Secrets       []string     // --secret id=ID[,src=PATH|,env=VAR]
	NamedContexts []string     // --build-context name=value
	SSH           []string     // --ssh ID[=SOCKET]
	AddHosts      []string     // --add-host HOST:IP
	CacheFrom     []string     // --cache-from IMAGE | type=registry,ref=IMAGE
	CacheTo       []string     // --cache-to type=inline
	Zstd          bool         // --compression zstd
	// LookupEnv resolves --build-arg NAME without a value, env secrets
	// and SOURCE_DATE_EPOCH: the process environment for the command,
	// nothing (nil) for the API — a client never reads the server's
	// environment.
	LookupEnv func(string) (string, bool)
	// NoStore builds without keeping the image (--output without
	// type=image): Keeper is not asked to record it.
	NoStore bool
	// Attest and Annotations are buildx's --sbom/--provenance/--attest
	// and --annotation (attest.go); zero: a bare image manifest.
	Attest      Attest
	Annotations Annotations
	Squash      bool // --squash: the added layers become one (squash.go)
}

// Env is what a build runs against: where its cache lives, where images
// and blobs come from and go, and how RUN runs. The CLI wires the store
// and the sandbox into it.
type Env struct {
	StateDir string // ROOT/build: cache, index and the builds' temp directories
	Source   ImageSource
	Blobs    BlobStore
	Exec     Executor
	Keeper   ImageKeeper
	Progress io.Writer // plain progress lines; nil discards
	Log      *slog.Logger
	SBOM     SBOMMaker // for Request.Attest.SBOM; nil: --sbom is refused
}

// ImageKeeper records a built image (the local store).
type ImageKeeper interface {
	// VerifyImage checks the image's layers against its config's diff
	// IDs, reading those nothing has checked yet.
	VerifyImage(ctx context.Context, manifest v1.Descriptor) error
	// KeepImage records the image under names (none: untagged).
	KeepImage(ctx context.Context, manifest v1.Descriptor, names []string) error
}

// Run builds req: it makes the build's temp directory (removed however the
// build ends; a kill -9 leaves it to the next build or to PruneCache),
// reads the context and Dockerfile, builds with progress to env.Progress,
// checks the base layers nothing unpacked, and keeps the image under its
// tags. Nothing is kept unless the build succeeds. Errors wrapping
// ErrBadRequest are the request's fault (a flag the user typed).
func Run(ctx context.Context, req Request, env Env) (*Result, error) {
	lookupEnv := req.LookupEnv
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	started := time.Now()
	progress := env.Progress
	if progress == nil {
		progress = io.Discard
	}
	network := req.Network
	switch network {
	case "":
		network = "default"
	case "default", "none", "host":
	default:
		return nil, badRequest{fmt.Errorf("network mode %q not supported by berth build: use default, host or none", network)}
	}
	buildArgs := BuildArgs(req.BuildArgs, lookupEnv)
	ws, err := OpenWorkspace(env.StateDir)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	tmp := ws.Dir()
	secrets, err := Secrets(req.Secrets, lookupEnv, tmp)
	if err != nil {
		return nil, err
	}
	df, contextDir, dfName, err := readInput(ctx, req.Dockerfile, req.Context, req.Stdin, tmp)
	if err != nil {
		return nil, err
	}
	named, err := namedContexts(ctx, req.NamedContexts, tmp)
	if err != nil {
		return nil, err
	}
	ssh, err := sshSockets(req.SSH)
	if err != nil {
		return nil, err
	}
	hosts, err := extraHosts(req.AddHosts)
	if err != nil {
		return nil, err
	}
	cacheFrom, inline, err := cacheFlags(req.CacheFrom, req.CacheTo)
	if err != nil {
		return nil, err
	}
	if v := buildArgs["BUILDKIT_INLINE_CACHE"]; v != "" && v != "0" && v != "false" {
		inline = true
	}
	noCacheStages := map[string]bool{}
	for _, n := range req.NoCacheFor {
		noCacheStages[strings.ToLower(n)] = true
	}
	file, err := dockerfile.Parse(filepath.Base(dfName), df)
	if err != nil {
		return nil, err
	}
	ignore, err := ReadIgnore(contextDir, dfName, remoteContext(req.Context))
	if err != nil {
		return nil, err
	}
	epoch, err := SourceDateEpoch(lookupEnv, buildArgs)
	if err != nil {
		return nil, err
	}
	mats := &materialSource{ImageSource: env.Source}
	labels := Labels(req.Labels)
	opts := Options{
		File: file, ContextDir: contextDir, Ignore: ignore, BuildArgs: buildArgs, Target: req.Target,
		NoCache: req.NoCache, Pull: req.Pull, Labels: labels, Network: network, Secrets: secrets,
		NamedContexts: named, SSH: ssh, ExtraHosts: hosts, NoCacheStages: noCacheStages, CacheFrom: cacheFrom,
		InlineCache: inline, Zstd: req.Zstd, Epoch: epoch, StateDir: env.StateDir, TempDir: tmp,
		Progress: progress, Log: env.Log, Source: mats, Blobs: env.Blobs, Exec: env.Exec,
	}
	if req.Platform != nil {
		opts.Platform = *req.Platform
	}
	res, err := Build(ctx, opts)
	if err != nil {
		return nil, err
	}
	// Base layers the build did not unpack are checked against their diff
	// IDs before the image goes anywhere (read once, then known).
	if err := env.Keeper.VerifyImage(ctx, res.Manifest); err != nil {
		return nil, err
	}
	// The export step, as BuildKit prints it.
	ex := "#" + strconv.Itoa(res.Steps+1)
	fmt.Fprintf(progress, "%s exporting to image\n", ex)
	if !req.NoStore {
		keep, err := finishImage(ctx, res, finishInput{req: req, env: env, dockerfile: df, dfName: filepath.Base(dfName),
			buildArgs: buildArgs, labels: labels, started: started, epoch: epoch, materials: mats})
		if err != nil {
			return nil, err
		}
		if err := env.Keeper.KeepImage(ctx, keep, req.Tags); err != nil {
			return nil, fmt.Errorf("storing the built image: %w", err)
		}
		fmt.Fprintf(progress, "%s writing image %s done\n", ex, res.ID)
		for _, t := range req.Tags {
			if r, err := ref.Parse(t); err == nil {
				fmt.Fprintf(progress, "%s naming to %s done\n", ex, ref.FullName(r))
			}
		}
	}
	return res, nil
}
