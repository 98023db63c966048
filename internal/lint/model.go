package lint

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/berth-dev/berth/internal/dockerfile"
)

// model is the Dockerfile as berth's rules see it: stages with their
// expanded base names, which stage is built, which stages ship (the built
// stage and the stages it is FROM), and the context.
type model struct {
	file   *dockerfile.File
	stages []*stage
	final  *stage
	ctx    *Context
	bases  *baseResolver
}

type stage struct {
	idx       int
	name      string // lower case; "" when unnamed
	base      string // the FROM image, ARGs expanded
	baseStage *stage // the stage this one is FROM, or nil
	cmds      []instructions.Command
	line, end int
	shipped   bool
}

// envMap is a shell.EnvGetter over a map.
type envMap map[string]string

func (e envMap) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e envMap) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func newModel(f *dockerfile.File, o Options, bases *baseResolver) *model {
	m := &model{file: f, ctx: o.Context, bases: bases}
	meta := envMap{}
	for _, a := range f.MetaArgs {
		for _, kv := range a.Args {
			if v, ok := o.BuildArgs[kv.Key]; ok {
				meta[kv.Key] = v
			} else if kv.Value != nil {
				meta[kv.Key] = *kv.Value
			}
		}
	}
	lex := f.NewLex()
	byName := map[string]*stage{}
	for i, st := range f.Stages {
		s := &stage{idx: i, name: strings.ToLower(st.Name), cmds: st.Commands, line: stageLine(st)}
		for _, c := range st.Commands {
			// RUN's --mount flags are read when the command is expanded;
			// the words are kept as written.
			if r, ok := c.(*instructions.RunCommand); ok {
				_ = r.Expand(func(w string) (string, error) { return w, nil })
			}
		}
		s.base = st.BaseName
		if w, _, err := lex.ProcessWord(st.BaseName, meta); err == nil {
			s.base = w
		}
		if p, ok := byName[strings.ToLower(s.base)]; ok {
			s.baseStage = p
		}
		if i > 0 {
			m.stages[i-1].end = s.line - 1
		}
		m.stages = append(m.stages, s)
		if s.name != "" {
			byName[s.name] = s
		}
	}
	last := m.stages[len(m.stages)-1]
	last.end = len(strings.Split(string(o.Dockerfile), "\n"))
	m.final = last
	if s, ok := byName[strings.ToLower(o.Target)]; ok && o.Target != "" {
		m.final = s
	}
	for s := m.final; s != nil; s = s.baseStage {
		s.shipped = true
	}
	return m
}

// root is the image a stage's chain of FROMs starts at.
func (s *stage) root() string {
	for s.baseStage != nil {
		s = s.baseStage
	}
	return s.base
}

// chain is the stage and the stages it is FROM, the earliest first: their
// instructions all make the stage's image.
func (s *stage) chain() []*stage {
	var c []*stage
	for t := s; t != nil; t = t.baseStage {
		c = append([]*stage{t}, c...)
	}
	return c
}

func (m *model) stageAt(line int) *stage {
	for _, s := range m.stages {
		if line >= s.line && line <= s.end {
			return s
		}
	}
	return nil
}

func (m *model) shipped() []*stage {
	var out []*stage
	for _, s := range m.stages {
		if s.shipped {
			out = append(out, s)
		}
	}
	return out
}

// env is what the stage's chain sets with ENV (the last value wins).
func (s *stage) env() map[string]string {
	env := map[string]string{}
	for _, t := range s.chain() {
		for _, c := range t.cmds {
			if e, ok := c.(*instructions.EnvCommand); ok {
				for _, kv := range e.Env {
					env[kv.Key] = kv.Value
				}
			}
		}
	}
	return env
}

// dropUnknownEnv removes BuildKit's UndefinedVar findings in stages whose
// base image berth has not pulled: their variables (NODE_VERSION, GOPATH…)
// come from a config berth cannot see offline, so such findings would be
// guesses. A note says so.
func (m *model) dropUnknownEnv(hits []bkHit, notes *[]string) []bkHit {
	kept := hits[:0]
	noted := map[string]bool{}
	for _, h := range hits {
		if h.rule == "UndefinedVar" {
			if s := m.stageAt(h.line); s != nil && isImage(s.root()) && m.bases.isUnknown(s.root()) {
				if b := s.root(); !noted[b] {
					noted[b] = true
					*notes = append(*notes, fmt.Sprintf("UndefinedVar is not checked in stages FROM %s: it is not in berth's store, so the variables its config defines are unknown (berth pull %s, then lint again)", b, b))
				}
				continue
			}
		}
		kept = append(kept, h)
	}
	return kept
}

// isImage reports whether a base is an image to pull (not scratch, not an
// unexpanded variable).
func isImage(base string) bool {
	return base != "" && !strings.EqualFold(base, "scratch") && !strings.Contains(base, "$")
}

// runText is a RUN's script: its command line and heredoc bodies.
func runText(r *instructions.RunCommand) string {
	s := strings.Join(r.CmdLine, " ")
	for _, f := range r.Files {
		s += "\n" + f.Data
	}
	return s
}

// cacheMounted reports whether a RUN mounts a cache or tmpfs over dir (or a
// directory above it), so nothing it writes there stays in the layer.
func cacheMounted(r *instructions.RunCommand, dir string) bool {
	for _, mt := range instructions.GetMounts(r) {
		if mt.Type != instructions.MountTypeCache && mt.Type != instructions.MountTypeTmpfs {
			continue
		}
		t := strings.TrimSuffix(mt.Target, "/")
		if t != "" && (dir == t || strings.HasPrefix(dir, t+"/")) {
			return true
		}
	}
	return false
}

func lineOf(c instructions.Command) (int, int) {
	loc := c.Location()
	if len(loc) == 0 {
		return 0, 0
	}
	return loc[0].Start.Line, loc[len(loc)-1].End.Line
}

func portNumber(p string) (int, bool) {
	p, _, _ = strings.Cut(p, "/")
	if lo, _, ok := strings.Cut(p, "-"); ok {
		p = lo
	}
	n, err := strconv.Atoi(p)
	return n, err == nil
}

func stageLine(st instructions.Stage) int {
	if len(st.Location) == 0 {
		return 0
	}
	return st.Location[0].Start.Line
}
