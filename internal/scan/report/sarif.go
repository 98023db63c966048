package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/output"
)

// SARIF prints a SARIF 2.1.0 log: a rule per vulnerability id and a result
// per finding, located at the package database or binary it came from.
func SARIF(w io.Writer, r *Report) error {
	run := output.SARIFRun{Tool: output.SARIFTool{Driver: output.SARIFDriver{Name: r.Tool, Version: r.Version, InformationURI: "https://github.com/berth-dev/berth"}}}
	rules := map[string]bool{}
	for _, f := range r.Result.Findings {
		if !rules[f.ID] {
			rules[f.ID] = true
			props := map[string]any{"tags": []string{"vulnerability", "security", f.Severity}}
			if f.Vector != "" {
				props["security-severity"] = fmt.Sprintf("%.1f", f.Score)
			}
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, output.SARIFRule{ID: f.ID, ShortDescription: output.SARIFText{Text: orDefault(f.Title, f.ID)}, HelpURI: f.URL, Properties: props})
		}
		msg := fmt.Sprintf("Package: %s\nInstalled Version: %s\nVulnerability %s\nSeverity: %s\nFixed Version: %s\nLayer: %s", f.Package.Name, f.Package.Version, f.ID, f.Severity, f.Fixed, layerText(f.Package.Layer))
		run.Results = append(run.Results, output.SARIFResult{
			RuleID: f.ID, Level: sarifLevel(f.Severity), Message: output.SARIFText{Text: msg},
			Locations:  []output.SARIFLocation{{Physical: output.SARIFPhysical{Artifact: output.SARIFArtifact{URI: strings.TrimPrefix(f.Package.Path, "/")}}}},
			Properties: map[string]any{"aliases": f.Aliases, "target": r.Target},
		})
	}
	return output.WriteSARIF(w, run)
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
