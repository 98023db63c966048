package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	ShortDescription sarifText      `json:"shortDescription"`
	HelpURI          string         `json:"helpUri"`
	Properties       map[string]any `json:"properties"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	Physical sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	Artifact sarifArtifact `json:"artifactLocation"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

// SARIF prints a SARIF 2.1.0 log: a rule per vulnerability id and a result
// per finding, located at the package database or binary it came from.
func SARIF(w io.Writer, r *Report) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: r.Tool, Version: r.Version, InformationURI: "https://github.com/berth-dev/berth"}}, Results: []sarifResult{}}
	rules := map[string]bool{}
	run.Tool.Driver.Rules = []sarifRule{}
	for _, f := range r.Result.Findings {
		if !rules[f.ID] {
			rules[f.ID] = true
			props := map[string]any{"tags": []string{"vulnerability", "security", f.Severity}}
			if f.Vector != "" {
				props["security-severity"] = fmt.Sprintf("%.1f", f.Score)
			}
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: f.ID, ShortDescription: sarifText{orDefault(f.Title, f.ID)}, HelpURI: f.URL, Properties: props})
		}
		msg := fmt.Sprintf("Package: %s\nInstalled Version: %s\nVulnerability %s\nSeverity: %s\nFixed Version: %s\nLayer: %s", f.Package.Name, f.Package.Version, f.ID, f.Severity, f.Fixed, layerText(f.Package.Layer))
		run.Results = append(run.Results, sarifResult{
			RuleID: f.ID, Level: sarifLevel(f.Severity), Message: sarifText{msg},
			Locations:  []sarifLocation{{sarifPhysical{sarifArtifact{URI: strings.TrimPrefix(f.Package.Path, "/")}}}},
			Properties: map[string]any{"aliases": f.Aliases, "target": r.Target},
		})
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

func sarifLevel(sev string) string {
	switch sev {
	case "CRITICAL", "HIGH":
		return "error"
	case "MEDIUM":
		return "warning"
	}
	return "note"
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
