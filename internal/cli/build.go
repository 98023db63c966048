package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/sandbox"
	"github.com/berth-dev/berth/internal/sandbox/snapshot"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type buildFlags struct {
	tags        []string
	file        string
	buildArgs   []string
	noCache     bool
	target      string
	labels      []string
	pull        bool
	platform    string
	quiet       bool
	iidfile     string
	metadata    string
	noCacheFor  []string
	cacheFrom   []string
	cacheTo     []string
	network     string
	secrets     []string
	contexts    []string
	ssh         []string
	addHosts    []string
	outputs     []string
	push        bool
	compression string
	progress    string
	security    []string
	compat      buildCompatFlags // buildx's and the legacy builder's other flags (build_compat.go)
	check       bool             // --check: run the build checks (berth lint) instead of the build
}

func (a *app) newBuildCmd() *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | -",
		Short: "Build an image from a Dockerfile",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBuild(cmd.Context(), f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, `Name and optionally a tag (format: "name:tag")`)
	fl.StringVarP(&f.file, "file", "f", "", `Name of the Dockerfile (default: "PATH/Dockerfile")`)
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "Set build-time variables")
	fl.BoolVar(&f.noCache, "no-cache", false, "Do not use cache when building the image")
	fl.StringVar(&f.target, "target", "", "Set the target build stage to build")
	fl.StringArrayVar(&f.labels, "label", nil, "Set metadata for an image")
	fl.BoolVar(&f.pull, "pull", false, "Always attempt to pull all referenced images")
	fl.StringVar(&f.platform, "platform", "", "Set target platform for build")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	fl.StringVar(&f.iidfile, "iidfile", "", "Write the image ID to a file")
	fl.StringSliceVar(&f.noCacheFor, "no-cache-filter", nil, "Do not cache the named stages")
	fl.StringArrayVar(&f.cacheFrom, "cache-from", nil, `Images to use as cache sources, built with --cache-to type=inline (format: "IMAGE" or "type=registry,ref=IMAGE")`)
	fl.StringArrayVar(&f.cacheTo, "cache-to", nil, `Cache export: "type=inline" records the cache in the image (as --build-arg BUILDKIT_INLINE_CACHE=1)`)
	fl.StringVar(&f.metadata, "metadata-file", "", "Write build result metadata (image digest, config digest, names) to a JSON file, as buildx does")
	fl.StringVar(&f.network, "network", "default", `Set the networking mode for the RUN instructions during build: "default" (the host's network, as Docker's legacy builder), "host" or "none" (only a loopback interface)`)
	fl.StringArrayVar(&f.security, "security-opt", nil, `Security options for RUN: "seccomp=unconfined", or "seccomp=PROFILE.json" (Docker's format) instead of Docker's default profile`)
	fl.StringArrayVar(&f.secrets, "secret", nil, `Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")`)
	fl.StringArrayVar(&f.addHosts, "add-host", nil, `Add a custom host-to-IP mapping to RUN's /etc/hosts (format: "host:ip"; ip "host-gateway" is this machine)`)
	fl.StringArrayVar(&f.ssh, "ssh", nil, `SSH agent socket to expose to RUN --mount=type=ssh (format: "default|<id>[=<socket>]")`)
	fl.StringArrayVar(&f.contexts, "build-context", nil, `Additional build context (format: "name=path", "name=docker-image://ref", a Git URL or an http(s) tar)`)
	fl.StringArrayVarP(&f.outputs, "output", "o", nil, `Output destination (format: "type=local,dest=path")`)
	fl.BoolVar(&f.push, "push", false, "Push the image to the registry after building")
	fl.StringVar(&f.compression, "compression", "gzip", `Layer compression ("gzip", "zstd")`)
	fl.StringVar(&f.progress, "progress", "auto", `Set type of progress output ("auto", "plain", "tty", "quiet", "rawjson")`)
	addBuildCompatFlags(fl, &f.compat)
	fl.BoolVar(&f.check, "check", false, "Run the build checks (as berth lint) and do not build; exit 1 on error-level findings")
	return cmd
}

type buildOutput struct {
	typ, dest string
}

func parseOutput(s string) (buildOutput, error) {
	var o buildOutput
	if !strings.Contains(s, "=") {
		// "-o DIR" is type=local,dest=DIR; "-o -" a tar on stdout.
		if s == "-" {
			return buildOutput{typ: "tar", dest: "-"}, nil
		}
		return buildOutput{typ: "local", dest: s}, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch strings.TrimSpace(k) {
		case "type":
			o.typ = v
		case "dest":
			o.dest = v
		case "name", "push", "compression", "oci-mediatypes":
		default:
			return o, fmt.Errorf("invalid output %q: unknown key %q", s, k)
		}
	}
	switch o.typ {
	case "oci", "docker", "tar", "local", "image", "registry":
	default:
		return o, fmt.Errorf("invalid output %q: type must be one of oci, docker, tar, local, image, registry", s)
	}
	if o.dest == "" && (o.typ == "local") {
		return o, fmt.Errorf("invalid output %q: dest is required for type=%s", s, o.typ)
	}
	return o, nil
}

func (a *app) runBuild(ctx context.Context, f buildFlags, ctxArg string) error {
	// Flags first: bad input is exit 125 before any work.
	var outs []buildOutput
	for _, o := range f.outputs {
		out, err := parseOutput(o)
		if err != nil {
			return usageError{err}
		}
		outs = append(outs, out)
	}
	if f.compression != "gzip" && f.compression != "zstd" {
		return usageError{fmt.Errorf("invalid --compression %q: use gzip or zstd", f.compression)}
	}
	for _, t := range f.tags {
		if _, err := ref.Parse(t); err != nil {
			return usageError{fmt.Errorf("invalid argument %q for \"-t, --tag\" flag: %w", t, err)}
		}
	}
	compat, err := parseBuildCompat(f.compat)
	if err != nil {
		return err
	}
	seccomp, err := securityOpts(f.security)
	if err != nil {
		return err
	}
	plat, err := parsePlatformFlag(f.platform)
	if err != nil {
		return err
	}
	if f.check {
		return a.checkBuild(ctx, f, ctxArg, "text")
	}
	if compat.call == "check" {
		return a.checkBuild(ctx, f, ctxArg, compat.callFormat)
	}
	var progressOut io.Writer = a.stderr
	var quietBuf bytes.Buffer
	switch {
	case f.quiet || f.progress == "quiet":
		progressOut = &quietBuf
	case f.progress == "tty" || (f.progress == "auto" && isTerminal(a.stderr)):
		lv := newLiveView(a.stderr, termWidth(a.stderr))
		defer lv.Close()
		progressOut = lv
	case f.progress == "rawjson":
		rj := newRawJSONProgress(a.stderr)
		defer rj.Close()
		progressOut = rj
	case f.progress == "plain", f.progress == "auto":
	default:
		return usageError{fmt.Errorf("invalid --progress %q: use auto, plain, tty, quiet or rawjson", f.progress)}
	}
	toStore := len(outs) == 0
	for _, o := range outs {
		if o.typ == "image" || o.typ == "registry" {
			toStore = true
		}
		if o.typ == "registry" {
			f.push = true
		}
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	req := build.Request{
		Context: ctxArg, Stdin: a.stdin, Dockerfile: f.file, Tags: f.tags, BuildArgs: f.buildArgs, Labels: f.labels,
		Target: f.target, NoCache: f.noCache, NoCacheFor: f.noCacheFor, Pull: f.pull, Platform: plat, Network: f.network,
		Secrets: f.secrets, NamedContexts: f.contexts, SSH: f.ssh, AddHosts: f.addHosts, CacheFrom: f.cacheFrom, CacheTo: f.cacheTo,
		Zstd: f.compression == "zstd", LookupEnv: os.LookupEnv, NoStore: !toStore,
		Attest: compat.attest, Annotations: compat.annotations, Squash: f.compat.squash,
	}
	newRemote := func() (*remote.Client, error) { return a.newRemoteClient(&remoteFlags{}) }
	env, err := a.buildEnv(st, newRemote, seccomp, progressOut)
	if err != nil {
		return err
	}
	if ex, ok := env.Exec.(sandboxExec); ok {
		ex.shmSize, ex.ulimits = compat.shmSize, compat.ulimits
		env.Exec = ex
	}
	res, err := build.Run(ctx, req, env)
	if err = buildRequestErr(err); err != nil {
		if f.quiet {
			a.stderr.Write(quietBuf.Bytes())
		}
		return err
	}
	a.builtID = res.ID.String()
	ex := "#" + strconv.Itoa(res.Steps+1)
	for _, o := range outs {
		if err := a.exportBuild(ctx, res, o, f.tags); err != nil {
			return fmt.Errorf("exporting to %s: %w", o.typ, err)
		}
	}
	fmt.Fprintf(progressOut, "%s DONE %.1fs\n", ex, time.Since(start).Seconds())
	if f.iidfile != "" {
		if err := os.WriteFile(f.iidfile, []byte(res.ID.String()), 0o644); err != nil {
			return fmt.Errorf("writing image ID file: %w", err)
		}
	}
	if f.metadata != "" {
		if err := writeBuildMetadata(f.metadata, res, f.tags); err != nil {
			return err
		}
	}
	if f.quiet {
		fmt.Fprintln(a.stdout, res.ID.String())
	}
	if f.push {
		if len(f.tags) == 0 {
			return usageError{errors.New("--push needs a name: add -t REGISTRY/NAME:TAG")}
		}
		for _, t := range f.tags {
			if err := a.runPush(ctx, t, pushOptions{quiet: f.quiet}); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildEnv wires the store and the sandbox into a build: FROM images from
// the store (pulled through newRemote when missing), blobs into it, RUN in
// berth's sandbox under seccomp, the image kept in the store.
func (a *app) buildEnv(st *store.Store, newRemote func() (*remote.Client, error), seccomp sandbox.Seccomp, progress io.Writer) (build.Env, error) {
	snaps, err := sandbox.NewSnapshots(filepath.Join(st.Root(), "snapshots"))
	if err != nil {
		return build.Env{}, err
	}
	return build.Env{
		StateDir: buildStateDir(st),
		Source:   storeSource{s: st, pull: a.buildPuller(st, newRemote)},
		Blobs:    storeBlobs{st},
		Exec:     sandboxExec{snaps: snaps, seccomp: seccomp},
		Keeper:   storeBlobs{st},
		Progress: progress,
		Log:      a.logger(),
		SBOM:     inventorySBOM{a},
	}, nil
}

// buildPuller pulls a FROM image that is missing from the store (or, with
// --pull, checks it for a newer version) through the registry client.
func (a *app) buildPuller(st *store.Store, newRemote func() (*remote.Client, error)) func(ctx context.Context, name string, platform v1.Platform) error {
	return func(ctx context.Context, name string, platform v1.Platform) error {
		if _, err := ref.Parse(name); err != nil {
			return err
		}
		c, err := newRemote()
		if err != nil {
			return err
		}
		_, err = c.PullImage(ctx, remote.PullImageOptions{Ref: name, Platform: &platform, PartialDir: partialDir(st)}, storeSink{st}, remote.NoEvents{})
		return remoteErr(err)
	}
}

// writeBuildMetadata writes buildx's --metadata-file keys that describe
// the image, so CI steps that read them (docker/build-push-action's
// outputs) work with berth.
func writeBuildMetadata(path string, res *build.Result, tags []string) error {
	names := make([]string, 0, len(tags))
	for _, t := range tags {
		if r, err := ref.Parse(t); err == nil {
			names = append(names, ref.FullName(r))
		}
	}
	m := map[string]any{
		"containerimage.digest":        res.Manifest.Digest.String(),
		"containerimage.config.digest": res.ID.String(),
		"containerimage.descriptor": map[string]any{
			"mediaType": string(res.Manifest.MediaType), "digest": res.Manifest.Digest.String(), "size": res.Manifest.Size,
		},
	}
	if len(names) > 0 {
		m["image.name"] = strings.Join(names, ",")
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing metadata file: %w", err)
	}
	return nil
}

// buildRequestErr marks the build package's bad-input errors as usage
// errors (exit 125), as they were flags the user typed.
func buildRequestErr(err error) error {
	if errors.Is(err, build.ErrBadRequest) {
		return usageError{err}
	}
	return err
}

// termWidth is the terminal's width in columns, 0 when unknown.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// storeSource finds FROM images in the local store, pulling them through
// pull when they are missing (or always, with --pull). pull is nil until the
// registry client is wired in; then a missing image is an error saying so.
type storeSource struct {
	s    *store.Store
	pull func(ctx context.Context, name string, platform v1.Platform) error
}

func (src storeSource) Image(ctx context.Context, name string, platform v1.Platform, pull bool) (v1.Image, error) {
	if pull && src.pull != nil {
		if err := src.pull(ctx, name, platform); err != nil {
			return nil, err
		}
	}
	img, err := src.s.Lookup(ctx, name)
	if err != nil && errors.Is(err, store.ErrNotFound) && src.pull != nil && !pull {
		if perr := src.pull(ctx, name, platform); perr != nil {
			return nil, withHint(fmt.Errorf("%s: no such image in the local store, and pulling it failed: %w", name, perr),
				"import or load the image first (berth import, berth load), or make its registry reachable")
		}
		img, err = src.s.Lookup(ctx, name)
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			repo := name
			if r, perr := ref.Parse(name); perr == nil {
				repo = ref.Familiar(r)
				if i := strings.LastIndexAny(repo, ":@"); i > 0 && !strings.Contains(repo[i:], "/") {
					repo = repo[:i]
				}
			}
			return nil, withHint(fmt.Errorf("%s: no such image in the local store, and pull access denied for %s, repository does not exist or may require 'docker login'", name, repo),
				"import or load the image first (berth import, berth load), or pull it (berth pull)")
		}
		return nil, err
	}
	if img.IsIndex() {
		// An index that lists no image for the platform fails as Docker's
		// pull does; one whose child is listed but not here says so.
		if im, err := src.s.IndexManifest(img.Digest); err == nil {
			if _, err := image.PickManifest(im, &platform, nil); errors.Is(err, image.ErrNoPlatform) {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return src.s.Image(ctx, img, &platform)
}

// storeBlobs is the store as the builder's BlobStore.
type storeBlobs struct{ s *store.Store }

func (b storeBlobs) HasBlob(h v1.Hash) bool {
	ok, err := b.s.Protect(h)
	return err == nil && ok
}

func (b storeBlobs) OpenBlob(h v1.Hash) (io.ReadCloser, error) { return b.s.OpenBlob(h) }

func (b storeBlobs) VerifyImage(ctx context.Context, manifest v1.Descriptor) error {
	return b.s.VerifyImage(ctx, manifest)
}

func (b storeBlobs) KeepImage(ctx context.Context, manifest v1.Descriptor, names []string) error {
	_, err := b.s.AddImage(ctx, manifest, names...)
	return err
}

func (b storeBlobs) RecordLayer(digest, diffID v1.Hash, size int64) {
	b.s.SetLayerFacts(digest, diffID, size)
}

func (b storeBlobs) PutBlob(ctx context.Context, want v1.Hash, r io.Reader) (v1.Hash, int64, error) {
	w, err := b.s.NewBlobWriter()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	if _, err := fsutil.CopyContext(ctx, w, r); err != nil {
		w.Abort()
		return v1.Hash{}, 0, err
	}
	return w.Commit(want)
}

// sandboxExec runs RUN steps in berth's sandbox over unpacked snapshots.
type sandboxExec struct {
	snaps   *snapshot.Store
	seccomp sandbox.Seccomp  // --security-opt seccomp
	shmSize int64            // --shm-size; 0: Docker's 64 MiB
	ulimits []sandbox.Ulimit // --ulimit
}

// unpack returns the snapshot directories of layers (unpacked once per
// layer, shared by every build).
func (e sandboxExec) unpack(ctx context.Context, layers []v1.Layer) ([]string, error) {
	var dirs []string
	for _, l := range layers {
		id, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		dir, ok := e.snaps.Lookup(id)
		if !ok {
			rc, err := l.Uncompressed()
			if err != nil {
				return nil, err
			}
			dir, err = e.snaps.Unpack(ctx, id, rc)
			rc.Close()
			if err != nil {
				return nil, err
			}
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

func (e sandboxExec) Run(ctx context.Context, req build.RunRequest, diff io.Writer) error {
	lowers, err := e.unpack(ctx, req.Layers)
	if err != nil {
		return err
	}
	spec := sandbox.Spec{
		Lowers: lowers, Args: req.Args, Env: req.Env, Dir: req.Dir, User: req.User,
		Network: req.Network, ExtraHosts: req.Hosts, Stdout: req.Output, Stderr: req.Output, TempDir: req.TempDir,
		Seccomp: e.seccomp, ShmSize: e.shmSize, Ulimits: e.ulimits,
	}
	for _, m := range req.Mounts {
		sm := sandbox.Mount{
			Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly,
			Mode: os.FileMode(m.Mode), UID: m.UID, GID: m.GID, Sharing: m.Sharing,
		}
		if len(m.Layers) > 0 {
			if sm.Lowers, err = e.unpack(ctx, m.Layers); err != nil {
				return err
			}
		}
		spec.Mounts = append(spec.Mounts, sm)
	}
	err = sandbox.Run(ctx, spec, diff)
	var ee *sandbox.ExitError
	if errors.As(err, &ee) {
		return &build.ExitError{Code: ee.Code}
	}
	return err
}
