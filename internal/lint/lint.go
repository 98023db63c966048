package lint

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/berth-dev/berth/internal/dockerfile"
)

// Level is how much a finding matters.
type Level int

const (
	Off Level = iota // the rule does not run
	Info
	Warning
	Error
)

var levelNames = [...]string{"off", "info", "warning", "error"}

func (l Level) String() string {
	if l < Off || l > Error {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return levelNames[l]
}

// MarshalText writes the level's name ("warning"), for JSON.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// ParseLevel reads "off", "info", "warning" or "error" (any case; "warn"
// too, as hadolint and others spell it).
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "ignore", "none":
		return Off, nil
	case "info", "note":
		return Info, nil
	case "warning", "warn":
		return Warning, nil
	case "error":
		return Error, nil
	}
	return Off, fmt.Errorf("unknown level %q: use off, info, warning or error", s)
}

// Finding is one rule firing at one place.
type Finding struct {
	Rule     string `json:"rule"`
	Level    Level  `json:"level"`
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"` // 1-based; 0 when the finding is about the file or context as a whole
	EndLine  int    `json:"endLine,omitempty"`
	Message  string `json:"message"`            // what is wrong, here
	Why      string `json:"why"`                // why it matters
	Fix      string `json:"fix"`                // how to fix it
	URL      string `json:"url"`                // the rule's documentation
	BuildKit bool   `json:"buildkit,omitempty"` // one of BuildKit's own build checks
}

// Report is what Run found.
type Report struct {
	File     string    `json:"file"`
	Findings []Finding `json:"findings"`
	// Notes say what could not be checked (a base image berth has not
	// pulled), so that a clean report is not mistaken for a full one.
	Notes []string `json:"notes,omitempty"`
	// BuildError is why BuildKit could not convert the Dockerfile (the
	// check fails, exit 1), after the findings it made up to there.
	BuildError *dockerfile.Error `json:"-"`
	lines      []string
}

// Lines returns the Dockerfile's source lines from..to (1-based, inclusive,
// clipped), for showing a finding in context.
func (r *Report) Lines(from, to int) []string {
	from = max(from, 1)
	to = min(to, len(r.lines))
	if from > to {
		return nil
	}
	return r.lines[from-1 : to]
}

// Count returns how many findings have level l.
func (r *Report) Count(l Level) int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == l {
			n++
		}
	}
	return n
}

// Context is what the rules see of the build context: its top-level names
// and its ignore file.
type Context struct {
	Names  []string           // entries at the context root ("src", ".git", "package.json")
	Ignore *dockerfile.Ignore // the .dockerignore that applies, nil when there is none
}

// Options say what to check. The zero value of every field but Dockerfile
// means the defaults.
type Options struct {
	Name       string // the Dockerfile's name in messages ("Dockerfile")
	Dockerfile []byte
	Context    *Context // nil when there is no context to see (a Dockerfile on stdin)
	Config     Config   // from .berth-lint.yaml
	BuildArgs  map[string]string
	Target     string // the stage that is built; "" for the last
	// BaseImage returns the config (JSON) of a base image given by its
	// full name (docker.io/library/node:22), when it is known without the
	// network; ok is false otherwise. nil knows no image.
	BaseImage func(ctx context.Context, ref string) (config []byte, ok bool)
}

// Run checks one Dockerfile. A Dockerfile that does not parse, or a check
// directive that does not, is an error (a *dockerfile.Error when it has a
// line); everything else is a finding.
func Run(ctx context.Context, o Options) (*Report, error) {
	name := o.Name
	if name == "" {
		name = "Dockerfile"
	}
	file, err := dockerfile.Parse(name, o.Dockerfile)
	if err != nil {
		return nil, err
	}
	dir, err := ParseDirective(o.Dockerfile)
	if err != nil {
		return nil, &dockerfile.Error{File: name, Line: directiveLine(o.Dockerfile), Msg: err.Error()}
	}
	r := &Report{File: name, lines: strings.Split(string(o.Dockerfile), "\n")}

	bases := newBaseResolver(o.BaseImage)
	// A Dockerfile BuildKit cannot convert (a base name an ARG leaves
	// empty) still gets the findings made before the failure, as
	// `docker build --check` prints them above its error.
	bk, err := runBuildKit(ctx, o, bases)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.BuildError = &dockerfile.Error{File: name, Line: errorLine(err), Msg: err.Error(), Err: err}
	}
	m := newModel(file, o, bases)
	bk = m.dropUnknownEnv(bk, &r.Notes)
	for _, h := range bk {
		r.Findings = append(r.Findings, h.finding(name))
	}
	for _, rl := range rules {
		if dir.skips(rl.ID) {
			continue
		}
		for _, h := range rl.check(m) {
			f := Finding{Rule: rl.ID, Level: rl.Level, File: name, Line: h.line, EndLine: h.end, Message: h.msg,
				Why: rl.Why, Fix: h.fix, URL: ruleURL(rl.ID)}
			if f.Fix == "" {
				f.Fix = rl.Fix
			}
			if f.EndLine < f.Line {
				f.EndLine = f.Line
			}
			r.Findings = append(r.Findings, f)
		}
	}
	// The config re-levels or switches off; then check=error=true makes
	// every remaining warning fail the check, as it fails BuildKit's build.
	kept := r.Findings[:0]
	for _, f := range r.Findings {
		if l, ok := o.Config.Rules[f.Rule]; ok {
			f.Level = l
		}
		if f.Level == Off {
			continue
		}
		if dir.Error && f.Level == Warning {
			f.Level = Error
		}
		kept = append(kept, f)
	}
	r.Findings = kept
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Rule < b.Rule
	})
	return r, nil
}

// Directive is a Dockerfile's `# check=` directive, read by BuildKit's own
// parser (parser.ParseDirective, linter.ParseLintOptions): skip=RULE[,RULE]
// or skip=all, error=true, experimental=RULE[,RULE].
type Directive struct {
	SkipAll bool
	Skip    map[string]bool
	Error   bool
}

// ParseDirective reads the `# check=` directive of a Dockerfile; none is the
// zero Directive.
func ParseDirective(dt []byte) (Directive, error) {
	v, _, _, _ := parser.ParseDirective("check", dt)
	cfg, err := linter.ParseLintOptions(v)
	if err != nil {
		return Directive{}, fmt.Errorf("failed to parse check options: %w", err)
	}
	d := Directive{SkipAll: cfg.SkipAll, Error: cfg.ReturnAsError, Skip: map[string]bool{}}
	for _, s := range cfg.SkipRules {
		d.Skip[s] = true
	}
	return d, nil
}

func (d Directive) skips(rule string) bool { return d.SkipAll || d.Skip[rule] }

func directiveLine(dt []byte) int {
	for i, l := range strings.Split(string(dt), "\n") {
		if strings.Contains(strings.ToLower(l), "check") && strings.HasPrefix(strings.TrimSpace(l), "#") {
			return i + 1
		}
	}
	return 0
}

// imageConfig is the part of an image config the rules read.
type imageConfig struct {
	Config struct {
		User        string
		Env         []string
		Healthcheck *struct{ Test []string }
	} `json:"config"`
}

func parseImageConfig(b []byte) (imageConfig, bool) {
	var c imageConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return c, false
	}
	return c, true
}
