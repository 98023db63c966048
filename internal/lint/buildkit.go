package lint

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"sync"

	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/ref"
)

// bkHit is one warning of BuildKit's linter.
type bkHit struct {
	rule, desc, url, msg string
	line, end            int
}

func (h bkHit) finding(file string) Finding {
	f := Finding{Rule: h.rule, Level: Warning, File: file, Line: h.line, EndLine: h.end, Message: h.msg,
		Why: h.desc, URL: h.url, BuildKit: true}
	if a, ok := buildkitAdvice[h.rule]; ok {
		f.Why, f.Fix = a.why, a.fix
	}
	if f.Fix == "" {
		f.Fix = h.desc
	}
	return f
}

// runBuildKit runs BuildKit's build checks the way `docker build --check`
// does: its Dockerfile front end converts every stage (AllStages, as its
// lint subrequest does for no target) and reports through Warn. Without a
// BuildKit client there is no context to read, so CopyIgnoredFile (an
// experimental rule) cannot run; base images resolve through bases only.
func runBuildKit(ctx context.Context, o Options, bases *baseResolver) ([]bkHit, error) {
	var mu sync.Mutex
	var hits []bkHit
	opt := dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{BuildArgs: o.BuildArgs, Target: o.Target},
		MetaResolver: bases,
		AllStages:    o.Target == "",
		Warn: func(rule, desc, url, msg string, loc []parser.Range) {
			h := bkHit{rule: rule, desc: desc, url: url, msg: msg}
			if len(loc) > 0 {
				h.line, h.end = loc[0].Start.Line, loc[len(loc)-1].End.Line
			}
			mu.Lock()
			hits = append(hits, h)
			mu.Unlock()
		},
	}
	_, err := dockerfile2llb.Dockerfile2LLB(ctx, o.Dockerfile, opt)
	mu.Lock()
	defer mu.Unlock()
	return hits, err
}

func errorLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return le.Locations[0][0].Start.Line
	}
	return 0
}

// baseResolver answers BuildKit's requests for base image configs from the
// caller's BaseImage (the local store), never the network. An image it does
// not know gets an empty config (as FROM scratch, with the default PATH), so
// the checks still run, and is remembered: the variables its real config
// defines are unknown (see dropUnknownEnv).
type baseResolver struct {
	lookup  func(ctx context.Context, ref string) ([]byte, bool)
	mu      sync.Mutex
	known   map[string]imageConfig
	unknown map[string]bool
}

func newBaseResolver(lookup func(ctx context.Context, ref string) ([]byte, bool)) *baseResolver {
	return &baseResolver{lookup: lookup, known: map[string]imageConfig{}, unknown: map[string]bool{}}
}

// key normalizes an image name the same way for BuildKit's requests and the
// rules' FROM lines.
func key(name string) string {
	r, err := ref.Parse(name)
	if err != nil {
		return name
	}
	return ref.FullName(r)
}

// config returns what is known of a base image's config.
func (b *baseResolver) config(name string) (imageConfig, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.known[key(name)]
	return c, ok
}

func (b *baseResolver) isUnknown(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unknown[key(name)]
}

// resolve looks a base up once (the rules ask too, when BuildKit did not).
func (b *baseResolver) resolve(ctx context.Context, name string) ([]byte, bool) {
	k := key(name)
	var dt []byte
	ok := false
	if b.lookup != nil {
		dt, ok = b.lookup(ctx, k)
	}
	var c imageConfig
	if ok {
		c, ok = parseImageConfig(dt)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.known[k] = c
		delete(b.unknown, k)
	} else if _, seen := b.known[k]; !seen {
		b.unknown[k] = true
	}
	return dt, ok
}

func (b *baseResolver) ResolveImageConfig(ctx context.Context, name string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	if dt, ok := b.resolve(ctx, name); ok {
		return name, "", dt, nil
	}
	p := ocispecs.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		p = *opt.ImageOpt.Platform
	}
	empty := map[string]any{
		"architecture": p.Architecture, "os": p.OS, "variant": p.Variant,
		"rootfs": map[string]any{"type": "layers"},
		"config": map[string]any{"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
	}
	dt, err := json.Marshal(empty)
	return name, "", dt, err
}
