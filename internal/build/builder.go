package build

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/dockerfile"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ref"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"golang.org/x/sync/errgroup"
)

// Builder runs one build. Use Build.
type Builder struct {
	opts Options
	plan *Plan
	// platformSet: the build asked for a platform (--platform); then a
	// base image of another platform is an error, not a silent fallback.
	platformSet bool
	ctxfs       *contextFS
	named       map[string]*contextFS // directory --build-contexts, by name
	prog        *progress
	now         time.Time

	baseLayers sync.Map // compressed digest → v1.Layer of a base image
	scans      sync.Map // diffID → *layerScan
	digests    sync.Map // diffID + "\x00" + path → content digest (fileDigests)

	stages []*stageRun

	running  sync.WaitGroup // stage goroutines
	runSlots chan struct{}  // bounds concurrent RUN steps

	mu        sync.Mutex
	last, cur map[string]*stepRecord
	lastRaw   []byte

	cacheFrom map[string]cacheEntry // step key → result, from --cache-from images
}

type stageRun struct {
	once  sync.Once
	done  chan struct{}
	state *stageState
	err   error
}

// stageState is a stage between steps: its layers, config, cache key chain
// and what it has seen (args, shell).
type stageState struct {
	sp        *StagePlan
	layers    []Layer
	cfg       v1.ConfigFile
	key       string
	changedBy string // title of the first step (in this chain) that changed
	args      []instructions.KeyValuePairOptional
	k         int       // step counter for "[k/n]"
	created   time.Time // time of the newest layer so far: config-only steps take it, so a rebuild from cache gives the same image ID
	tree      *fsTree
	lex       *shell.Lex  // one per stage: stages run concurrently
	extra     int         // steps added by the base image's ONBUILD triggers
	onbuild   bool        // dispatching a trigger
	steps     []cacheStep // the cache key and result of each step, for an inline cache
}

// Build runs the build described by opts.
func Build(ctx context.Context, opts Options) (*Result, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	platformSet := opts.Platform.OS != ""
	if opts.Platform.OS == "" {
		// BuildKit's default: this machine, normalised (arm64 has no
		// variant in TARGETPLATFORM, 32-bit arm is v7).
		opts.Platform = image.NormalizePlatform(image.HostPlatform())
	}
	if opts.Network == "" {
		opts.Network = "default"
	}
	if opts.TempDir == "" {
		dir, err := os.MkdirTemp("", "berth-build-")
		if err != nil {
			return nil, err
		}
		defer fsutil.RemoveAll(dir)
		opts.TempDir = dir
	}
	plan, err := NewPlan(opts.File, opts.Target, opts.BuildArgs, opts.Platform)
	if err != nil {
		return nil, err
	}
	b := &Builder{
		opts:        opts,
		plan:        plan,
		platformSet: platformSet,
		ctxfs:       newContextFS(opts.ContextDir, opts.Ignore, opts.StateDir),
		named:       map[string]*contextFS{},
		prog:        newProgress(opts.Progress),
		now:         time.Now().UTC().Truncate(time.Second),

		runSlots: make(chan struct{}, runtime.NumCPU()),
	}
	for name, nc := range opts.NamedContexts {
		if nc.Dir != "" {
			b.named[name] = newContextFS(nc.Dir, nil, "")
		}
	}
	if opts.Epoch != nil {
		b.now = opts.Epoch.UTC()
	}
	for _, w := range opts.File.Warnings {
		fmt.Fprintf(b.prog.w, "[WARNING]: %s\n", w)
	}
	b.loadLast()
	if err := b.loadCacheFrom(ctx); err != nil {
		return nil, err
	}
	b.stages = make([]*stageRun, len(plan.Stages))
	for i := range b.stages {
		b.stages[i] = &stageRun{done: make(chan struct{})}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, sp := range plan.Stages {
		if !sp.Needed {
			continue
		}
		g.Go(func() error {
			_, err := b.waitStage(gctx, i)
			return err
		})
	}
	err = g.Wait()
	// Stages started on demand (by an ONBUILD trigger's --from) are
	// cancelled with gctx; wait for them so nothing outlives Build.
	b.running.Wait()
	if err != nil {
		return nil, err
	}
	if err := b.ctxfs.save(); err != nil {
		opts.Log.Debug("saving context index", "err", err)
	}
	if err := b.saveLast(); err != nil {
		opts.Log.Debug("saving step records", "err", err)
	}
	if unused := unusedArgs(opts.File, opts.BuildArgs); len(unused) > 0 {
		fmt.Fprintf(b.prog.w, "[Warning] One or more build-args %v were not consumed\n", unused)
	}
	final := b.stages[plan.Target].state
	return b.writeImage(ctx, final)
}

// waitStage starts stage i once (stages the plan did not mark are started
// when first asked for) and waits for it.
func (b *Builder) waitStage(ctx context.Context, i int) (*stageState, error) {
	sr := b.stages[i]
	sr.once.Do(func() {
		b.running.Add(1)
		go func() {
			defer b.running.Done()
			sr.state, sr.err = b.runStage(ctx, b.plan.Stages[i])
			close(sr.done)
		}()
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.stages[i].done:
	}
	if b.stages[i].err != nil {
		return nil, b.stages[i].err
	}
	return b.stages[i].state, nil
}

func (b *Builder) title(st *stageState, text string, counted bool) string {
	total := st.sp.Total + st.extra
	if !counted || total == 0 {
		return text
	}
	st.k++
	if st.onbuild {
		text = "ONBUILD " + text
	}
	return b.plan.prefixOf(st.sp, st.k, total) + " " + text
}

func (b *Builder) errAt(c interface{ Location() []parser.Range }, err error) error {
	var de *dockerfile.Error
	if errors.As(err, &de) {
		return err
	}
	msg := err.Error()
	if cmd, ok := c.(instructions.Command); ok {
		msg = stepText(cmd) + ": " + msg
	}
	return &dockerfile.Error{File: b.opts.File.Name, Line: dockerfile.StartLine(c), Msg: msg, Err: err}
}

func (b *Builder) runStage(ctx context.Context, sp *StagePlan) (*stageState, error) {
	st, err := b.from(ctx, sp)
	if err != nil {
		return nil, err
	}
	for ci, c := range sp.Commands {
		if err := b.dispatch(ctx, st, fmt.Sprintf("%s/%d", sp.Display(), ci), c); err != nil {
			return nil, b.errAt(c, err)
		}
	}
	return st, nil
}

// from starts a stage: from scratch, an earlier stage, or an image, then
// runs the base image's ONBUILD triggers.
func (b *Builder) from(ctx context.Context, sp *StagePlan) (*stageState, error) {
	st := &stageState{sp: sp, lex: b.opts.File.NewLex()}
	id := sp.Display() + "/from"
	switch {
	case sp.BaseStage >= 0:
		parent, err := b.waitStage(ctx, sp.BaseStage)
		if err != nil {
			return nil, err
		}
		st.layers = append([]Layer(nil), parent.layers...)
		st.steps = append([]cacheStep(nil), parent.steps...)
		st.cfg = cloneConfig(parent.cfg)
		st.key = chainKey("stage", parent.key)
		st.changedBy = parent.changedBy
		st.created = parent.created
		return st, b.runTriggers(ctx, st, parent.sp.Display())
	case sp.Base == "scratch":
		st.cfg = v1.ConfigFile{OS: b.opts.Platform.OS, Architecture: b.opts.Platform.Architecture, Variant: b.opts.Platform.Variant}
		st.cfg.Config.Env = []string{"PATH=" + defaultPath}
		st.cfg.Config.WorkingDir = "/"
		st.key = chainKey("scratch", b.opts.Platform.String())
		b.compare(id, &stepRecord{Text: "FROM scratch"})
		return st, nil
	}
	platform := b.opts.Platform
	if sp.Platform != "" {
		p, err := image.ParsePlatform(sp.Platform)
		if err != nil {
			return nil, fmt.Errorf("FROM --platform: %w", err)
		}
		if p != nil {
			platform = *p
		}
	}
	base := sp.Base
	if nc, ok := b.opts.NamedContexts[strings.ToLower(base)]; ok {
		if nc.Image == "" {
			return nil, fmt.Errorf("FROM %s: the build context %q is a directory; use it with COPY --from or RUN --mount=from, or pass docker-image://REF", sp.Base, base)
		}
		base = nc.Image
	}
	title := b.title(st, "FROM "+fullName(base), true)
	img, err := b.opts.Source.Image(ctx, base, platform, b.opts.Pull)
	if err != nil {
		b.prog.vertex(title).fail(err)
		return nil, err
	}
	mdig, err := img.Digest()
	if err != nil {
		return nil, err
	}
	// As BuildKit: the full name, pinned to the digest it resolved to.
	if !strings.Contains(title, "@") {
		title += "@" + mdig.String()
	}
	v := b.prog.vertex(title)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", sp.Base, err)
	}
	if err := b.checkPlatform(base, cfg, platform, sp.Platform != ""); err != nil {
		v.fail(err)
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		var ll Layer
		if ll.Digest, err = l.Digest(); err != nil {
			return nil, err
		}
		if ll.DiffID, err = l.DiffID(); err != nil {
			return nil, err
		}
		if ll.Size, err = l.Size(); err != nil {
			return nil, err
		}
		if ll.MediaType, err = l.MediaType(); err != nil {
			return nil, err
		}
		b.baseLayers.Store(ll.Digest, l)
		st.layers = append(st.layers, ll)
	}
	st.cfg = cloneConfig(*cfg)
	// BuildKit makes sure every stage has a PATH.
	if _, ok := shell.EnvsFromSlice(st.cfg.Config.Env).Get("PATH"); !ok {
		st.cfg.Config.Env = append(st.cfg.Config.Env, "PATH="+defaultPath)
	}
	st.created = cfg.Created.Time
	st.key = chainKey("image", mdig.String())
	if _, changed := b.compare(id, &stepRecord{Text: "FROM " + sp.Base + "@" + mdig.String()}); changed {
		st.changedBy = "FROM " + sp.Base + " (base image changed)"
	}
	v.done()
	return st, b.runTriggers(ctx, st, sp.Base)
}

// runTriggers runs the ONBUILD triggers the stage's base declared (an
// image, or an earlier stage of this Dockerfile: Docker's builders run
// those too, as if the stage had been built into an image first); the
// stage's own image then has none of them.
func (b *Builder) runTriggers(ctx context.Context, st *stageState, base string) error {
	triggers := st.cfg.Config.OnBuild
	st.cfg.Config.OnBuild = nil
	var cmds []instructions.Command
	for _, tr := range triggers {
		res, err := parser.Parse(strings.NewReader(tr))
		if err != nil || len(res.AST.Children) != 1 {
			return fmt.Errorf("parsing ONBUILD trigger %q of %s: %v", tr, base, err)
		}
		cmd, err := instructions.ParseCommand(res.AST.Children[0])
		if err != nil {
			return fmt.Errorf("parsing ONBUILD trigger %q of %s: %w", tr, base, err)
		}
		cmds = append(cmds, cmd)
		if countsAsStep(cmd) {
			st.extra++ // BuildKit counts triggers in the stage's "[k/n]"
		}
	}
	st.onbuild = true
	for ti, cmd := range cmds {
		if err := b.dispatch(ctx, st, fmt.Sprintf("%s/onbuild%d", st.sp.Display(), ti), cmd); err != nil {
			return fmt.Errorf("ONBUILD %s: %w", triggers[ti], err)
		}
	}
	st.onbuild = false
	return nil
}

// checkPlatform refuses a single-platform base image that does not run on
// the platform the build asked for (--platform, or FROM --platform: named
// says so), with the Docker daemon's words; building on it would label an
// image of one platform as another, or hand back a cached image of the
// wrong one. Without a request the base's own platform is taken, as both
// of Docker's builders do. (An index is resolved to the platform asked for
// before this, or fails saying it has none.)
func (b *Builder) checkPlatform(name string, cfg *v1.ConfigFile, want v1.Platform, named bool) error {
	if !named && !b.platformSet {
		return nil
	}
	// As the daemon: a config without an OS or architecture is this
	// machine's (old images and some tools' write none).
	have := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
	if have.Architecture == "" {
		host := image.HostPlatform()
		have.Architecture, have.Variant = host.Architecture, host.Variant
	}
	if have.OS == "" {
		have.OS = image.HostPlatform().OS
	}
	if image.PlatformMatches(have, want) {
		return nil
	}
	have = image.NormalizePlatform(have)
	return fmt.Errorf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s",
		name, image.NormalizePlatform(want).String(), have.String())
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func cloneConfig(c v1.ConfigFile) v1.ConfigFile {
	out := c
	out.History = append([]v1.History(nil), c.History...)
	out.RootFS.DiffIDs = append([]v1.Hash(nil), c.RootFS.DiffIDs...)
	cc := c.Config
	cc.Env = append([]string(nil), cc.Env...)
	cc.Cmd = append([]string(nil), cc.Cmd...)
	cc.Entrypoint = append([]string(nil), cc.Entrypoint...)
	cc.Shell = append([]string(nil), cc.Shell...)
	cc.OnBuild = append([]string(nil), cc.OnBuild...)
	cc.Labels = cloneSet(cc.Labels)
	cc.ExposedPorts = cloneSet(cc.ExposedPorts)
	cc.Volumes = cloneSet(cc.Volumes)
	if len(cc.Cmd) == 0 {
		cc.Cmd = nil
	}
	if len(cc.Entrypoint) == 0 {
		cc.Entrypoint = nil
	}
	if len(cc.Shell) == 0 {
		cc.Shell = nil
	}
	if len(cc.OnBuild) == 0 {
		cc.OnBuild = nil
	}
	if len(cc.Env) == 0 {
		cc.Env = nil
	}
	out.Config = cc
	return out
}

func cloneSet[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// env is what word expansion sees: the ARGs in scope, overridden by ENV.
func (st *stageState) env() shell.EnvGetter {
	var kv []string
	for _, a := range st.args {
		if a.Value != nil {
			kv = append(kv, a.Key+"="+*a.Value)
		}
	}
	kv = append(kv, st.cfg.Config.Env...)
	return shell.EnvsFromSlice(kv)
}

// runEnv is the environment of a RUN: ENV plus ARGs (ENV wins), plus the
// proxy variables given with --build-arg, which need no ARG and never show
// in the history.
func (st *stageState) runEnv(buildArgs map[string]string) []string {
	env := append([]string(nil), st.cfg.Config.Env...)
	have := map[string]bool{}
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		have[k] = true
	}
	for _, a := range st.args {
		if a.Value != nil && !have[a.Key] {
			env = append(env, a.Key+"="+*a.Value)
			have[a.Key] = true
		}
	}
	var proxies []string
	for k, v := range buildArgs {
		if proxyArgs[k] && !have[k] {
			proxies = append(proxies, k+"="+v)
		}
	}
	sort.Strings(proxies)
	return append(env, proxies...)
}

func (b *Builder) history(st *stageState, createdBy string, empty bool, created time.Time) {
	st.cfg.History = append(st.cfg.History, v1.History{
		Created:    v1.Time{Time: created},
		CreatedBy:  createdBy,
		Comment:    "buildkit.dockerfile.v0",
		EmptyLayer: empty,
	})
}

// addLayer appends a step's layer (or an empty_layer history entry).
func (b *Builder) addLayer(st *stageState, l *Layer, createdBy string, created time.Time) {
	if l == nil {
		if created.After(st.created) {
			st.created = created
		}
		b.history(st, createdBy, true, created)
		return
	}
	if created.After(st.created) {
		st.created = created
	}
	st.layers = append(st.layers, *l)
	st.cfg.RootFS.DiffIDs = append(st.cfg.RootFS.DiffIDs, l.DiffID)
	st.tree = nil
	b.history(st, createdBy, false, created)
}

func (b *Builder) stageTree(ctx context.Context, st *stageState) (*fsTree, error) {
	if st.tree == nil {
		t, err := b.treeOf(ctx, st.layers)
		if err != nil {
			return nil, err
		}
		st.tree = t
	}
	return st.tree, nil
}

// unusedArgs lists the --build-arg names no ARG declares (Docker warns).
func unusedArgs(f *dockerfile.File, given map[string]string) []string {
	declared := map[string]bool{}
	for _, m := range f.MetaArgs {
		for _, a := range m.Args {
			declared[a.Key] = true
		}
	}
	for _, st := range f.Stages {
		for _, c := range st.Commands {
			if a, ok := c.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					declared[kv.Key] = true
				}
			}
		}
	}
	var out []string
	for k := range given {
		if !declared[k] && !proxyArgs[k] && k != "SOURCE_DATE_EPOCH" && k != "BUILDKIT_INLINE_CACHE" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// fullName is Docker's full form of an image name (docker.io/library/…).
func fullName(s string) string {
	r, err := ref.Parse(s)
	if err != nil {
		return s
	}
	return ref.FullName(r)
}
