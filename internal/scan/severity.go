package scan

import (
	"strings"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// Severities in trivy's order, most severe first.
var Severities = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}

// SeverityRank orders severities: CRITICAL 4 … LOW 1, UNKNOWN 0.
func SeverityRank(s string) int {
	switch s {
	case "CRITICAL":
		return 4
	case "HIGH":
		return 3
	case "MEDIUM":
		return 2
	case "LOW":
		return 1
	}
	return 0
}

// severity is what a finding reports: a rating, and the CVSS base score
// and vector it came from (none when the rating is a vendor's word).
type severity struct {
	rating string
	score  float64
	vector string
	from   string // the record id that carried it
}

func (s severity) known() bool { return s.rating != "" && s.rating != "UNKNOWN" }

// better reports whether s should replace cur: a CVSS score beats a bare
// vendor rating, then the higher score or rating wins.
func (s severity) better(cur severity) bool {
	if !cur.known() {
		return s.known()
	}
	if (s.vector != "") != (cur.vector != "") {
		return s.vector != ""
	}
	if s.score != cur.score {
		return s.score > cur.score
	}
	return SeverityRank(s.rating) > SeverityRank(cur.rating)
}

// CVSS vectors are scored, and scores rated, with github.com/pandatix/go-cvss
// (the library osv-scalibr itself uses for OSV severities), so berth's
// scores agree with osv-scalibr's and with the scores NVD and GitHub
// publish for the same vectors.

// recordSeverity is the severity one record states: its best CVSS vector
// (the newest CVSS version it gives, top level or per affected package),
// else its vendor's rating (Ubuntu's priority, GitHub's
// database_specific.severity). Zero when it states none berth can read.
func recordSeverity(v *osvpb.Vulnerability) severity {
	var best severity
	bestVersion := 0
	consider := func(s *osvpb.Severity) {
		score, version, ok := cvssScore(s)
		if !ok {
			if r := vendorRating(s); r != "" {
				if c := (severity{rating: r, from: v.GetId()}); c.better(best) {
					best = c
				}
			}
			return
		}
		c := severity{rating: cvssRating(score, version), score: score, vector: s.GetScore(), from: v.GetId()}
		// A record giving several CVSS versions means the newest one.
		if version > bestVersion || (version == bestVersion && c.better(best)) || best.vector == "" {
			best, bestVersion = c, version
		}
	}
	for _, s := range v.GetSeverity() {
		consider(s)
	}
	for _, a := range v.GetAffected() {
		for _, s := range a.GetSeverity() {
			consider(s)
		}
	}
	if !best.known() {
		if r := githubRating(v); r != "" {
			best = severity{rating: r, from: v.GetId()}
		}
	}
	return best
}

// cvssScore returns the base score of a CVSS vector and its major version
// (2, 3 or 4), or false when s is no vector the library accepts.
func cvssScore(s *osvpb.Severity) (float64, int, bool) {
	vec := strings.TrimSpace(s.GetScore())
	typ := s.GetType()
	// Some feeds leave the type unset; the vector's prefix says what it is.
	switch {
	case strings.HasPrefix(vec, "CVSS:4.0/"):
		typ = osvpb.Severity_CVSS_V4
	case strings.HasPrefix(vec, "CVSS:3."):
		typ = osvpb.Severity_CVSS_V3
	}
	switch typ {
	case osvpb.Severity_CVSS_V2:
		v, err := gocvss20.ParseVector(strings.TrimPrefix(strings.TrimPrefix(vec, "("), "CVSS:2.0/"))
		if err != nil {
			return 0, 0, false
		}
		return v.BaseScore(), 2, true
	case osvpb.Severity_CVSS_V3:
		if strings.HasPrefix(vec, "CVSS:3.0/") {
			v, err := gocvss30.ParseVector(vec)
			if err != nil {
				return 0, 0, false
			}
			return v.BaseScore(), 3, true
		}
		v, err := gocvss31.ParseVector(vec)
		if err != nil {
			return 0, 0, false
		}
		return v.BaseScore(), 3, true
	case osvpb.Severity_CVSS_V4:
		v, err := gocvss40.ParseVector(vec)
		if err != nil {
			return 0, 0, false
		}
		return v.Score(), 4, true
	}
	return 0, 0, false
}

// cvssRating is the qualitative rating of a base score: the CVSS v3/v4
// specification's bands (through the library), NVD's bands for v2, which
// has no CRITICAL. A score of 0.0 ("NONE") is reported as LOW: the record
// is scored, so it is not UNKNOWN.
func cvssRating(score float64, version int) string {
	var r string
	var err error
	switch version {
	case 2:
		switch {
		case score >= 7.0:
			r = "HIGH"
		case score >= 4.0:
			r = "MEDIUM"
		default:
			r = "LOW"
		}
	case 4:
		r, err = gocvss40.Rating(score)
	default:
		r, err = gocvss31.Rating(score)
	}
	if err != nil {
		return "UNKNOWN"
	}
	if r == "NONE" {
		return "LOW"
	}
	return r
}

// vendorRating reads Ubuntu's priority ("negligible" … "critical"), the one
// non-CVSS severity type OSV defines.
func vendorRating(s *osvpb.Severity) string {
	if s.GetType() != osvpb.Severity_Ubuntu {
		return ""
	}
	switch strings.ToLower(strings.TrimSpace(s.GetScore())) {
	case "critical":
		return "CRITICAL"
	case "high":
		return "HIGH"
	case "medium":
		return "MEDIUM"
	case "low", "negligible":
		return "LOW"
	}
	return ""
}

// githubRating reads the GitHub Advisory Database's own rating, which its
// OSV records carry as database_specific.severity (MODERATE is MEDIUM).
func githubRating(v *osvpb.Vulnerability) string {
	if !strings.HasPrefix(v.GetId(), "GHSA-") {
		return ""
	}
	f := v.GetDatabaseSpecific().GetFields()["severity"]
	switch strings.ToUpper(f.GetStringValue()) {
	case "CRITICAL":
		return "CRITICAL"
	case "HIGH":
		return "HIGH"
	case "MODERATE", "MEDIUM":
		return "MEDIUM"
	case "LOW":
		return "LOW"
	}
	return ""
}

// maxSeverityHops bounds how far severity is looked for through aliases:
// a DSA names its DEBIAN-CVE record (upstream), which names the CVE.
const maxSeverityHops = 3

// severityOf finds the severity of a finding made of the records in group.
// The records themselves come first; without a rating there, the records
// their aliases and upstream ids name, one hop at a time (a Go GO- advisory
// takes its GHSA- alias's score; a Debian DSA- its DEBIAN-CVE-'s, which
// carries NVD's score of the CVE). The nearest hop with a CVSS score wins,
// the highest score within it; vendor ratings count only when no hop has a
// score. Only a finding with nothing anywhere is UNKNOWN.
func severityOf(group []*osvpb.Vulnerability, src VulnSource) severity {
	seen := map[string]bool{}
	level := group
	for _, v := range group {
		seen[v.GetId()] = true
	}
	var rated severity // best vendor-only rating met on the way
	for hop := 0; ; hop++ {
		var best severity
		for _, v := range level {
			if s := recordSeverity(v); s.better(best) {
				best = s
			}
		}
		if best.vector != "" {
			return best
		}
		if best.better(rated) {
			rated = best
		}
		if hop == maxSeverityHops || src == nil {
			break
		}
		var next []*osvpb.Vulnerability
		for _, v := range level {
			for _, id := range linkedIDs(v) {
				if seen[id] {
					continue
				}
				if r, err := src.Get(id); err == nil && r != nil {
					seen[id] = true
					next = append(next, r)
				}
			}
		}
		if s, ok := src.(SeverityIndex); ok {
			// Records kept only for their severity (or records naming
			// these ids as their alias) stand in for missing ones.
			for _, v := range level {
				for _, id := range append([]string{v.GetId()}, linkedIDs(v)...) {
					for _, rec := range s.AliasSeverity(id) {
						if !seen[rec.GetId()] {
							seen[rec.GetId()] = true
							next = append(next, rec)
						}
					}
				}
			}
		}
		if len(next) == 0 {
			break
		}
		level = next
	}
	if rated.known() {
		return rated
	}
	return severity{rating: "UNKNOWN"}
}

// linkedIDs are the ids a record says are the same vulnerability (aliases)
// or the one it derives from (upstream).
func linkedIDs(v *osvpb.Vulnerability) []string {
	out := make([]string, 0, len(v.GetAliases())+len(v.GetUpstream()))
	out = append(out, v.GetAliases()...)
	return append(out, v.GetUpstream()...)
}
