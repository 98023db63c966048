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

// SeverityIndex is implemented by a VulnSource that also keeps the
// severities of records it does not hold whole (records of ecosystems the
// scan does not need, such as a CVE's), indexed by their ids and aliases.
type SeverityIndex interface {
	// AliasSeverity returns records carrying a severity known under id: a
	// record id kept for its severity only, and records naming id among
	// their aliases. They may hold only id, aliases, upstream and severity.
	AliasSeverity(id string) []*osvpb.Vulnerability
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
	// SeverityFrom is the record the severity was read from: the finding's
	// own id or an alias (GHSA-…, DEBIAN-CVE-…, CVE-…).
	SeverityFrom string `json:"severity_source,omitempty"`
	Title        string `json:"title,omitempty"`
	URL          string `json:"url"`
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
		groups, covered := foldUpstream(groupAliases(hits))
		for i, group := range groups {
			out = append(out, newFinding(p, group, covered[i], names, string(eco.Ecosystem), src))
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

// foldUpstream drops a group whose records name, as their upstream, records
// that are findings for the same package themselves: a Debian DSA- or DLA-
// lists the DEBIAN-CVE- (and CVE-) records of the flaws it fixes, and those
// are reported one finding per CVE, as trivy does, with the advisory among
// their aliases. covered[i] lists the advisories folded into groups[i]. An
// advisory whose per-CVE records are not in the database stays a finding.
func foldUpstream(groups [][]*osvpb.Vulnerability) (kept [][]*osvpb.Vulnerability, covered map[int][]string) {
	owner := map[string]int{}
	for i, g := range groups {
		for _, v := range g {
			owner[v.GetId()] = i
		}
	}
	// A group some other group names as upstream is a per-CVE record: it is
	// never folded, so folding cannot go round in a circle.
	named := map[int]bool{}
	for i, g := range groups {
		for _, v := range g {
			for _, u := range v.GetUpstream() {
				if j, ok := owner[u]; ok && j != i {
					named[j] = true
				}
			}
		}
	}
	into := map[int][]int{} // folded group -> groups it is folded into
	for i, g := range groups {
		if named[i] {
			continue
		}
		seen := map[int]bool{}
		for _, v := range g {
			for _, u := range v.GetUpstream() {
				if j, ok := owner[u]; ok && j != i && !seen[j] {
					seen[j] = true
					into[i] = append(into[i], j)
				}
			}
		}
	}
	if len(into) == 0 {
		return groups, nil
	}
	extra := map[int][]string{}
	for i, targets := range into {
		for _, j := range targets {
			for _, v := range groups[i] {
				extra[j] = append(extra[j], v.GetId())
			}
		}
	}
	covered = map[int][]string{}
	for i, g := range groups {
		if _, folded := into[i]; folded {
			continue
		}
		if e := extra[i]; len(e) > 0 {
			covered[len(kept)] = e
		}
		kept = append(kept, g)
	}
	return kept, covered
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

func newFinding(p Package, group []*osvpb.Vulnerability, covered []string, names []string, ecoBase string, src VulnSource) Finding {
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
	for _, id := range covered {
		ids[id] = true
	}
	for id := range ids {
		if id != f.ID {
			f.Aliases = append(f.Aliases, id)
		}
	}
	sort.Strings(f.Aliases)
	f.Fixed = fixedVersions(group, names, ecoBase)

	sev := severityOf(group, src)
	f.Severity, f.Score, f.Vector, f.SeverityFrom = sev.rating, sev.score, sev.vector, sev.from
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
