package build

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/dockerfile"
	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Plan is what a build will do: the stages the target needs, in dependency
// order, with their steps. It is computed without I/O.
type Plan struct {
	Stages []*StagePlan // all stages of the file, in file order
	Target int          // index of the target stage
	Global map[string]string
	Multi  bool       // more than one stage: step names carry the stage name
	lex    *shell.Lex // used only while planning: a Lex is not safe for concurrent use
	file   *dockerfile.File
}

// StagePlan is one stage of the Dockerfile.
type StagePlan struct {
	Index     int
	Name      string // the AS name, lower-case; "" when unnamed
	Base      string // FROM after expansion: an image, "scratch" or a stage
	BaseStage int    // index of the base stage, or -1
	Platform  string // FROM --platform after expansion
	Deps      []int  // stages needed: the base and every --from
	Needed    bool   // the target depends on it
	Commands  []instructions.Command
	Total     int // steps counted in "[k/n]", as BuildKit counts them
	src       *instructions.Stage
}

// Display is the stage's name in progress lines ("build", "stage-1").
func (s *StagePlan) Display() string {
	if s.Name != "" {
		return s.Name
	}
	return "stage-" + strconv.Itoa(s.Index)
}

// predefinedArgs are the platform args every build defines (BuildKit's
// TARGETPLATFORM family), for platform p and the build machine.
func predefinedArgs(p v1.Platform) map[string]string {
	build := image.NormalizePlatform(image.HostPlatform())
	m := map[string]string{}
	set := func(prefix string, q v1.Platform) {
		m[prefix+"PLATFORM"] = q.String()
		m[prefix+"OS"] = q.OS
		m[prefix+"ARCH"] = q.Architecture
		m[prefix+"VARIANT"] = q.Variant
	}
	set("TARGET", p)
	set("BUILD", build)
	return m
}

// proxyArgs may be passed with --build-arg without an ARG and never appear in
// the history (Docker's predefined args).
var proxyArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// NewPlan resolves stage bases and dependencies for target ("" = the last
// stage) with the given build args and target platform.
func NewPlan(f *dockerfile.File, target string, buildArgs map[string]string, platform v1.Platform) (*Plan, error) {
	p := &Plan{Global: predefinedArgs(platform), lex: f.NewLex(), Multi: len(f.Stages) > 1, file: f}
	for _, ma := range f.MetaArgs {
		for _, kv := range ma.Args {
			if v, ok := buildArgs[kv.Key]; ok {
				p.Global[kv.Key] = v
				continue
			}
			if kv.Value == nil {
				if _, ok := p.Global[kv.Key]; !ok {
					p.Global[kv.Key] = ""
				}
				continue
			}
			v, _, err := p.lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(envSlice(p.Global)))
			if err != nil {
				return nil, p.errAt(f, &ma, err)
			}
			p.Global[kv.Key] = v
		}
	}
	names := map[string]int{}
	for i := range f.Stages {
		st := &f.Stages[i]
		sp := &StagePlan{Index: i, Name: strings.ToLower(st.Name), BaseStage: -1, Commands: st.Commands, src: st}
		env := shell.EnvsFromSlice(envSlice(p.Global))
		base, _, err := p.lex.ProcessWord(st.BaseName, env)
		if err != nil {
			return nil, &dockerfile.Error{File: f.Name, Line: stageLine(st), Msg: err.Error()}
		}
		if base == "" {
			return nil, &dockerfile.Error{File: f.Name, Line: stageLine(st), Msg: "base name (" + st.BaseName + ") should not be blank"}
		}
		sp.Base = base
		if st.Platform != "" {
			if sp.Platform, _, err = p.lex.ProcessWord(st.Platform, env); err != nil {
				return nil, &dockerfile.Error{File: f.Name, Line: stageLine(st), Msg: err.Error()}
			}
		}
		if j, ok := names[strings.ToLower(base)]; ok {
			sp.BaseStage = j
			sp.Deps = append(sp.Deps, j)
		}
		if sp.Name != "" {
			if _, dup := names[sp.Name]; dup {
				return nil, &dockerfile.Error{File: f.Name, Line: stageLine(st), Msg: fmt.Sprintf("duplicate stage name %q", st.Name)}
			}
			names[sp.Name] = i
		}
		if sp.BaseStage < 0 && base != "scratch" {
			sp.Total = 1
		}
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.CopyCommand:
				sp.Total++
				if c.From != "" {
					if j, ok := p.stageRef(c.From, names, i); ok {
						sp.Deps = append(sp.Deps, j)
					} else if _, err := strconv.Atoi(c.From); err == nil {
						return nil, &dockerfile.Error{File: f.Name, Line: dockerfile.StartLine(c), Msg: fmt.Sprintf("invalid from flag value %s: refers to current or later build stage", c.From)}
					}
				}
			case *instructions.AddCommand, *instructions.WorkdirCommand:
				sp.Total++
			case *instructions.RunCommand:
				sp.Total++
				for _, m := range instructions.GetMounts(c) {
					if m.From == "" {
						continue
					}
					if j, ok := p.stageRef(m.From, names, i); ok {
						sp.Deps = append(sp.Deps, j)
					}
				}
			}
		}
		sp.Deps = uniqInts(sp.Deps)
		p.Stages = append(p.Stages, sp)
	}
	p.Target = len(p.Stages) - 1
	if target != "" {
		j, ok := names[strings.ToLower(target)]
		if !ok {
			return nil, fmt.Errorf("target stage %q could not be found", target)
		}
		p.Target = j
	}
	p.mark(p.Target)
	return p, nil
}

func (p *Plan) errAt(f *dockerfile.File, c *instructions.ArgCommand, err error) error {
	return &dockerfile.Error{File: f.Name, Line: dockerfile.StartLine(c), Msg: err.Error()}
}

// stageRef resolves a --from value to an earlier stage, by name or index.
func (p *Plan) stageRef(from string, names map[string]int, cur int) (int, bool) {
	if v, _, err := p.file.NewLex().ProcessWord(from, shell.EnvsFromSlice(envSlice(p.Global))); err == nil {
		from = v
	}
	if j, ok := names[strings.ToLower(from)]; ok && j < cur {
		return j, true
	}
	if n, err := strconv.Atoi(from); err == nil && n >= 0 && n < cur {
		return n, true
	}
	return 0, false
}

func (p *Plan) mark(i int) {
	if p.Stages[i].Needed {
		return
	}
	p.Stages[i].Needed = true
	for _, d := range p.Stages[i].Deps {
		p.mark(d)
	}
}

// String renders the plan for golden tests and --debug output.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "target: %s\n", p.Stages[p.Target].Display())
	for _, s := range p.Stages {
		if !s.Needed {
			fmt.Fprintf(&b, "stage %d %s: skipped\n", s.Index, s.Display())
			continue
		}
		fmt.Fprintf(&b, "stage %d %s: from %s", s.Index, s.Display(), s.Base)
		if s.Platform != "" {
			fmt.Fprintf(&b, " platform %s", s.Platform)
		}
		if len(s.Deps) > 0 {
			fmt.Fprintf(&b, " deps %v", s.Deps)
		}
		b.WriteString("\n")
		k := 0
		if s.Total > 0 && s.BaseStage < 0 && s.Base != "scratch" {
			k = 1
			fmt.Fprintf(&b, "  %s FROM %s\n", p.prefix(s, k), s.Base)
		}
		for _, c := range s.Commands {
			if countsAsStep(c) {
				k++
				fmt.Fprintf(&b, "  %s %s\n", p.prefix(s, k), stepText(c))
			} else {
				fmt.Fprintf(&b, "  %s\n", stepText(c))
			}
		}
	}
	return b.String()
}

// prefix is BuildKit's "[stage k/n]" (without the stage in one-stage files).
func (p *Plan) prefix(s *StagePlan, k int) string { return p.prefixOf(s, k, s.Total) }

func (p *Plan) prefixOf(s *StagePlan, k, total int) string {
	w := len(strconv.Itoa(total))
	if p.Multi {
		return fmt.Sprintf("[%s %*d/%d]", s.Display(), w, k, total)
	}
	return fmt.Sprintf("[%*d/%d]", w, k, total)
}

func countsAsStep(c instructions.Command) bool {
	switch c.(type) {
	case *instructions.CopyCommand, *instructions.AddCommand, *instructions.RunCommand, *instructions.WorkdirCommand:
		return true
	}
	return false
}

// stepText is the instruction as written (upper-cased keyword).
func stepText(c instructions.Command) string {
	s := fmt.Sprint(c)
	if i := strings.IndexByte(s, ' '); i > 0 {
		return strings.ToUpper(s[:i]) + s[i:]
	}
	return strings.ToUpper(s)
}

func envSlice(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func uniqInts(in []int) []int {
	sort.Ints(in)
	out := in[:0]
	for i, v := range in {
		if i == 0 || v != in[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func stageLine(st *instructions.Stage) int {
	if len(st.Location) == 0 {
		return 0
	}
	return st.Location[0].Start.Line
}
