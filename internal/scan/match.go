package scan

import (
	"context"
	"sort"
	"strings"

	"github.com/google/osv-scalibr/enricher/vulnmatch/osvlocal"
	"github.com/google/osv-scalibr/extractor"
	javameta "github.com/google/osv-scalibr/extractor/filesystem/language/java/archive/metadata"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
)

// VulnSource is the vulnerability data a scan reads (vulndb.DB).
type VulnSource interface {
	// Candidates returns the records naming any of names in the ecosystem
	// ecoBase ("Debian", "Go", …; no release suffix).
	Candidates(ecoBase string, names []string) ([]*osvpb.Vulnerability, error)
	// Get returns the record with id, or nil.
	Get(id string) (*osvpb.Vulnerability, error)
}

// Finding is one vulnerability affecting one package.
type Finding struct {
	ID       string   `json:"id"`                // the advisory shown (ecosystem-native id preferred)
	Aliases  []string `json:"aliases,omitempty"` // the same vulnerability under other ids
	Package  Package  `json:"package"`
	Fixed    string   `json:"fixed_version,omitempty"`
	Severity string   `json:"severity"` // CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN
	Score    float64  `json:"cvss_score,omitempty"`
	Vector   string   `json:"cvss_vector,omitempty"`
	Title    string   `json:"title,omitempty"`
	URL      string   `json:"url"`
}

// Match finds the vulnerabilities affecting inv's packages. The OSV matcher
// and version orderings are osv-scalibr's; this only picks candidate records
// by name, merges aliases and reads fixed versions and severities.
func Match(ctx context.Context, inv *Inventory, src VulnSource) ([]Finding, error) {
	var out []Finding
	for _, p := range inv.Packages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p.pkg == nil || p.Ecosystem == "" {
			continue
		}
		// A Go main module built from a work tree has no version to match.
		if p.Extractor == "go/binary" && (p.Version == "" || p.Version == "(devel)") {
			continue
		}
		eco := p.pkg.Ecosystem()
		names := candidateNames(p.pkg)
		cands, err := src.Candidates(string(eco.Ecosystem), names)
		if err != nil {
			return nil, err
		}
		if len(cands) == 0 {
			continue
		}
		hits := osvlocal.VulnerabilitiesAffectingPackage(cands, p.pkg)
		for _, group := range groupAliases(hits) {
			out = append(out, newFinding(p, group, names, string(eco.Ecosystem), src))
		}
	}
	SortFindings(out)
	return out, nil
}

// SortFindings orders findings stably: package, version, path, then id.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Package.Name != b.Package.Name {
			return a.Package.Name < b.Package.Name
		}
		if a.Package.Version != b.Package.Version {
			return a.Package.Version < b.Package.Version
		}
		if a.Package.Path != b.Package.Path {
			return a.Package.Path < b.Package.Path
		}
		if a.Package.Extractor != b.Package.Extractor {
			return a.Package.Extractor < b.Package.Extractor
		}
		return a.ID < b.ID
	})
}

// candidateNames lists every name an OSV record may use for p: the binary
// name, the dpkg source package, the apk origin, rpm's source name, Maven's
// group:artifact, npm/Go namespaces, Go's stdlib.
func candidateNames(p *extractor.Package) []string {
	names := []string{p.Name}
	add := func(n string) {
		if n == "" {
			return
		}
		for _, x := range names {
			if x == n {
				return
			}
		}
		names = append(names, n)
	}
	switch m := p.Metadata.(type) {
	case *dpkgmeta.Metadata:
		add(m.SourceName)
		add(m.PackageName)
	case *apkmeta.Metadata:
		add(m.OriginName)
		add(m.PackageName)
	case *rpmmeta.Metadata:
		add(m.PackageName)
		if src := m.SourceRPM; src != "" {
			// name-version-release.src.rpm
			s := strings.TrimSuffix(src, ".src.rpm")
			for k := 0; k < 2; k++ {
				if i := strings.LastIndexByte(s, '-'); i > 0 {
					s = s[:i]
				}
			}
			add(s)
		}
	case *javameta.Metadata:
		if m.GroupID != "" && m.ArtifactID != "" {
			add(m.GroupID + ":" + m.ArtifactID)
		}
	}
	if u := p.PURL(); u != nil && u.Namespace != "" {
		add(u.Namespace + "/" + p.Name)
		add(u.Namespace + ":" + p.Name)
	}
	if p.PURLType == "golang" && p.Name == "go" {
		add("stdlib")
	}
	return names
}

// groupAliases merges records that name each other (GO-…, GHSA-…, CVE-…)
// into one finding.
func groupAliases(vs []*osvpb.Vulnerability) [][]*osvpb.Vulnerability {
	parent := make([]int, len(vs))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, v := range vs {
		for _, id := range append([]string{v.GetId()}, v.GetAliases()...) {
			if j, ok := owner[id]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[id] = i
			}
		}
	}
	groups := map[int][]*osvpb.Vulnerability{}
	var roots []int
	for i, v := range vs {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], v)
	}
	out := make([][]*osvpb.Vulnerability, 0, len(roots))
	for _, r := range roots {
		out = append(out, groups[r])
	}
	return out
}

// idRank prefers the ecosystem's own advisory (GO-, DSA-, ALPINE-…) over
// GHSA- over CVE- as the id a finding is shown under.
func idRank(id string) int {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return 2
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	}
	return 0
}

func newFinding(p Package, group []*osvpb.Vulnerability, names []string, ecoBase string, src VulnSource) Finding {
	sort.Slice(group, func(i, j int) bool {
		a, b := group[i].GetId(), group[j].GetId()
		if idRank(a) != idRank(b) {
			return idRank(a) < idRank(b)
		}
		return a < b
	})
	primary := group[0]
	f := Finding{ID: primary.GetId(), Package: p, Title: title(primary), URL: "https://osv.dev/vulnerability/" + primary.GetId()}
	ids := map[string]bool{}
	for _, v := range group {
		ids[v.GetId()] = true
		for _, a := range v.GetAliases() {
			ids[a] = true
		}
		if f.Title == "" {
			f.Title = title(v)
		}
	}
	for id := range ids {
		if id != f.ID {
			f.Aliases = append(f.Aliases, id)
		}
	}
	sort.Strings(f.Aliases)
	f.Fixed = fixedVersions(group, names, ecoBase)

	// Severity: the highest CVSS among the records and any alias records the
	// database holds (a Debian advisory's CVE record carries the vector).
	sev := severityOf(group)
	for _, a := range f.Aliases {
		if v, err := src.Get(a); err == nil && v != nil {
			if s := severityOf([]*osvpb.Vulnerability{v}); s.score > sev.score {
				sev = s
			}
		}
	}
	f.Severity, f.Score, f.Vector = sev.rating, sev.score, sev.vector
	return f
}

func title(v *osvpb.Vulnerability) string {
	t := v.GetSummary()
	if t == "" {
		t, _, _ = strings.Cut(strings.TrimSpace(v.GetDetails()), "\n")
	}
	if len(t) > 120 {
		t = t[:117] + "..."
	}
	return t
}

// fixedVersions lists the "fixed" events of the affected entries naming the
// package, in the record's order.
func fixedVersions(group []*osvpb.Vulnerability, names []string, ecoBase string) string {
	var out []string
	seen := map[string]bool{}
	for _, v := range group {
		for _, a := range v.GetAffected() {
			if base, _, _ := strings.Cut(a.GetPackage().GetEcosystem(), ":"); base != ecoBase {
				continue
			}
			named := false
			for _, n := range names {
				if a.GetPackage().GetName() == n {
					named = true
				}
			}
			if !named {
				continue
			}
			for _, r := range a.GetRanges() {
				for _, e := range r.GetEvents() {
					if fx := e.GetFixed(); fx != "" && !seen[fx] {
						seen[fx] = true
						out = append(out, fx)
					}
				}
			}
		}
	}
	return strings.Join(out, ", ")
}
