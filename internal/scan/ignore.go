package scan

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// IgnoreEntry is one line of a .trivyignore file: an id, optionally with an
// expiry date after which it no longer applies ("CVE-2023-1234 exp:2025-01-31"),
// or one entry of a .trivyignore.yaml, which may also narrow the id to
// packages found in some files or with some package URLs.
type IgnoreEntry struct {
	ID      string
	Expires time.Time // zero: never
	Line    int
	Paths   []string // glob patterns (path.Match) of the file a package was found in; empty: any
	PURLs   []string // package URLs; empty: any
}

// matches reports whether the entry hides f.
func (e IgnoreEntry) matches(f Finding) bool {
	if e.ID != f.ID && !contains(f.Aliases, e.ID) {
		return false
	}
	if len(e.PURLs) > 0 && !contains(e.PURLs, f.Package.PURL) {
		return false
	}
	if len(e.Paths) == 0 {
		return true
	}
	p := strings.TrimPrefix(f.Package.Path, "/")
	for _, pat := range e.Paths {
		if ok, _ := path.Match(strings.TrimPrefix(pat, "/"), p); ok {
			return true
		}
	}
	return false
}

// IgnoreFile is a parsed .trivyignore.
type IgnoreFile struct {
	Name    string
	Entries []IgnoreEntry
}

// maxIgnoreLine bounds one line; an ignore file is a short hand-written list.
const maxIgnoreLine = 4096

// ParseIgnore reads trivy's .trivyignore format: one id per line, "#"
// comments, blank lines, and an optional "exp:YYYY-MM-DD" field.
func ParseIgnore(name string, r io.Reader) (*IgnoreFile, error) {
	f := &IgnoreFile{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxIgnoreLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		e := IgnoreEntry{ID: fields[0], Line: n}
		if err := checkIgnoreID(e.ID); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		for _, fld := range fields[1:] {
			v, ok := strings.CutPrefix(fld, "exp:")
			if !ok {
				return nil, fmt.Errorf("%s:%d: unknown field %q (want exp:YYYY-MM-DD)", name, n, fld)
			}
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: bad expiry date %q (want exp:YYYY-MM-DD)", name, n, v)
			}
			e.Expires = t
		}
		f.Entries = append(f.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return f, nil
}

// ignoreYAML is the part of trivy's .trivyignore.yaml a vulnerability
// scan reads; its misconfigurations, secrets and licenses lists are for
// scanners berth does not have.
type ignoreYAML struct {
	Vulnerabilities []yaml.Node `yaml:"vulnerabilities"`
}

type ignoreYAMLEntry struct {
	ID        string   `yaml:"id"`
	Paths     []string `yaml:"paths"`
	PURLs     []string `yaml:"purls"`
	ExpiredAt string   `yaml:"expired_at"`
	Statement string   `yaml:"statement"`
}

// ParseIgnoreYAML reads trivy's .trivyignore.yaml: a "vulnerabilities"
// list of entries with an id and optional paths, purls, expired_at
// (YYYY-MM-DD) and statement.
func ParseIgnoreYAML(name string, r io.Reader) (*IgnoreFile, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxIgnoreYAML+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxIgnoreYAML {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxIgnoreYAML)
	}
	var doc ignoreYAML
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &IgnoreFile{Name: name}
	for _, n := range doc.Vulnerabilities {
		var y ignoreYAMLEntry
		if err := n.Decode(&y); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n.Line, err)
		}
		if y.ID == "" {
			return nil, fmt.Errorf("%s:%d: entry has no id", name, n.Line)
		}
		if err := checkIgnoreID(y.ID); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n.Line, err)
		}
		e := IgnoreEntry{ID: y.ID, Line: n.Line, Paths: y.Paths, PURLs: y.PURLs}
		for _, p := range y.Paths {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("%s:%d: bad path pattern %q", name, n.Line, p)
			}
		}
		if y.ExpiredAt != "" {
			t, err := time.Parse("2006-01-02", y.ExpiredAt)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: bad expired_at %q (want YYYY-MM-DD)", name, n.Line, y.ExpiredAt)
			}
			e.Expires = t
		}
		f.Entries = append(f.Entries, e)
	}
	return f, nil
}

// maxIgnoreYAML bounds a .trivyignore.yaml, a hand-written file.
const maxIgnoreYAML = 4 << 20

func checkIgnoreID(id string) error {
	if len(id) > 256 {
		return fmt.Errorf("id %.40q... is too long", id)
	}
	for _, r := range id {
		if r < 0x21 || r == 0x7f {
			return fmt.Errorf("id %q has a control character", id)
		}
	}
	return nil
}

// Policy is what a user asked to see and to fail on.
type Policy struct {
	Severities    []string // shown severities; empty means all
	IgnoreUnfixed bool     // hide findings without a fixed version
	Ignore        *IgnoreFile
	Now           time.Time
}

// Result is a filtered scan: the findings every output format renders, and
// notes about the ignore file.
type Result struct {
	Findings []Finding
	Ignored  []Finding
	Notes    []string // expired and unused ignore entries
}

// Apply filters findings. An expired ignore entry no longer hides anything
// and is reported; an entry that hid nothing is reported as unused.
func (p Policy) Apply(findings []Finding) Result {
	var res Result
	sev := map[string]bool{}
	for _, s := range p.Severities {
		sev[strings.ToUpper(s)] = true
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	var entries []IgnoreEntry
	used := map[int]bool{}
	if p.Ignore != nil {
		entries = p.Ignore.Entries
	}
	for _, f := range findings {
		if len(sev) > 0 && !sev[f.Severity] {
			continue
		}
		if p.IgnoreUnfixed && f.Fixed == "" {
			continue
		}
		ignored := false
		for i, e := range entries {
			if !e.Expires.IsZero() && !now.Before(e.Expires.AddDate(0, 0, 1)) {
				continue
			}
			if e.matches(f) {
				ignored, used[i] = true, true
			}
		}
		if ignored {
			res.Ignored = append(res.Ignored, f)
			continue
		}
		res.Findings = append(res.Findings, f)
	}
	for i, e := range entries {
		switch {
		case !e.Expires.IsZero() && !now.Before(e.Expires.AddDate(0, 0, 1)):
			res.Notes = append(res.Notes, fmt.Sprintf("%s:%d: ignore entry %s expired on %s and no longer applies", p.Ignore.Name, e.Line, e.ID, e.Expires.Format("2006-01-02")))
		case !used[i]:
			res.Notes = append(res.Notes, fmt.Sprintf("%s:%d: ignore entry %s matched no finding", p.Ignore.Name, e.Line, e.ID))
		}
	}
	return res
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
