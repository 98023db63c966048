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

type severity struct {
	rating string
	score  float64
	vector string
}

// CVSS vectors are scored with github.com/pandatix/go-cvss, the library
// osv-scalibr itself uses for OSV severities (its guided remediation), so
// berth's scores agree with osv-scalibr's.

// severityOf scores the CVSS vectors of records (top level and per affected
// package) and keeps the highest. Without a parseable vector it is UNKNOWN:
// berth does not guess.
func severityOf(vs []*osvpb.Vulnerability) severity {
	best := severity{rating: "UNKNOWN", score: -1}
	consider := func(s *osvpb.Severity) {
		score, ok := cvssScore(s)
		if ok && score > best.score {
			best = severity{rating: rating(score), score: score, vector: s.GetScore()}
		}
	}
	for _, v := range vs {
		for _, s := range v.GetSeverity() {
			consider(s)
		}
		for _, a := range v.GetAffected() {
			for _, s := range a.GetSeverity() {
				consider(s)
			}
		}
	}
	if best.score < 0 {
		best.score = 0
	}
	return best
}

func cvssScore(s *osvpb.Severity) (float64, bool) {
	vec := s.GetScore()
	switch s.GetType() {
	case osvpb.Severity_CVSS_V2:
		v, err := gocvss20.ParseVector(vec)
		if err != nil {
			return 0, false
		}
		return v.BaseScore(), true
	case osvpb.Severity_CVSS_V3:
		if strings.HasPrefix(vec, "CVSS:3.0/") {
			v, err := gocvss30.ParseVector(vec)
			if err != nil {
				return 0, false
			}
			return v.BaseScore(), true
		}
		v, err := gocvss31.ParseVector(vec)
		if err != nil {
			return 0, false
		}
		return v.BaseScore(), true
	case osvpb.Severity_CVSS_V4:
		v, err := gocvss40.ParseVector(vec)
		if err != nil {
			return 0, false
		}
		return v.Score(), true
	}
	return 0, false
}

// rating maps a CVSS base score to its qualitative rating (CVSS v3.1 §5).
func rating(score float64) string {
	switch {
	case score >= 9.0:
		return "CRITICAL"
	case score >= 7.0:
		return "HIGH"
	case score >= 4.0:
		return "MEDIUM"
	case score > 0:
		return "LOW"
	}
	return "UNKNOWN"
}
