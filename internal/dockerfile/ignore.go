package dockerfile

import (
	"bytes"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// IgnoreFileNames lists, in order of precedence, the ignore files that apply
// to a Dockerfile at dockerfilePath (relative to the context or absolute):
// "<Dockerfile>.dockerignore" beside it, then ".dockerignore" at the context
// root. The first that exists wins; they are never merged.
func IgnoreFileNames(dockerfilePath string) []string {
	if dockerfilePath == "" || dockerfilePath == "-" {
		return []string{".dockerignore"}
	}
	return []string{dockerfilePath + ".dockerignore", ".dockerignore"}
}

// Ignore matches context paths against .dockerignore patterns.
type Ignore struct {
	pm       *patternmatcher.PatternMatcher
	patterns []string
}

// ParseIgnore reads .dockerignore content with Docker's rules (comments,
// "!" exceptions, leading "/" and "./" removed, paths cleaned).
func ParseIgnore(data []byte) (*Ignore, error) {
	patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading .dockerignore: %w", err)
	}
	return NewIgnore(patterns)
}

// NewIgnore compiles already-cleaned patterns.
func NewIgnore(patterns []string) (*Ignore, error) {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("invalid .dockerignore pattern: %w", err)
	}
	return &Ignore{pm: pm, patterns: patterns}, nil
}

// Patterns returns the cleaned patterns.
func (ig *Ignore) Patterns() []string {
	if ig == nil {
		return nil
	}
	return ig.patterns
}

// Excluded reports whether the context path rel (slash separated, relative to
// the context root) is excluded, taking the directories above it into
// account as Docker does.
func (ig *Ignore) Excluded(rel string) bool {
	if ig == nil || len(ig.patterns) == 0 {
		return false
	}
	rel = filepath.ToSlash(path.Clean(strings.TrimPrefix(rel, "/")))
	ok, err := ig.pm.MatchesOrParentMatches(rel)
	return err == nil && ok
}

// CanSkipDir reports whether a walk may skip an excluded directory entirely:
// only when no "!" exception could bring back something below it.
func (ig *Ignore) CanSkipDir(rel string) bool {
	if ig == nil || !ig.Excluded(rel) {
		return false
	}
	if !ig.pm.Exclusions() {
		return true
	}
	prefix := strings.TrimSuffix(rel, "/") + "/"
	for _, p := range ig.pm.Patterns() {
		if !p.Exclusion() {
			continue
		}
		s := p.String()
		// An exception that starts with a wildcard or lies below this
		// directory may re-include something under it.
		if strings.HasPrefix(s, prefix) || strings.ContainsAny(s, "*?[\\") || strings.HasPrefix(prefix, s+"/") {
			return false
		}
	}
	return true
}
