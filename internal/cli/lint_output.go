package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/lint"
)

// The renderings of a lint report: text as `docker build --check` prints
// its warnings (the rule, the URL, the offending lines between dashes) plus
// berth's why and fix; JSON; SARIF 2.1.0.

func writeLintText(w io.Writer, r *lint.Report) error {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n%s: %s - %s\n%s\n", strings.ToUpper(f.Level.String()), f.Rule, f.URL, printableLine(f.Message))
		if f.Line > 0 {
			writeSourceLines(&b, r, f)
		}
		fmt.Fprintf(&b, "why: %s\nfix: %s\n", f.Why, f.Fix)
	}
	if len(r.Findings) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(lintSummary(r) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSourceLines shows the finding's lines marked ">>>" with a few around
// them, as BuildKit shows a location: two lines either side of a single
// line, one either side of a range.
func writeSourceLines(b *strings.Builder, r *lint.Report, f lint.Finding) {
	pad := 1
	if f.EndLine <= f.Line {
		pad = 2
	}
	fmt.Fprintf(b, "%s:%d\n--------------------\n", f.File, f.Line)
	for i, l := range r.Lines(f.Line-pad, f.EndLine+pad) {
		n := max(f.Line-pad, 1) + i
		mark := "   "
		if n >= f.Line && n <= max(f.EndLine, f.Line) {
			mark = ">>>"
		}
		fmt.Fprintf(b, " %3d | %s %s\n", n, mark, printableLine(strings.TrimRight(l, "\r")))
	}
	b.WriteString("--------------------\n")
}

func lintSummary(r *lint.Report) string {
	var parts []string
	for _, l := range []lint.Level{lint.Error, lint.Warning, lint.Info} {
		if n := r.Count(l); n > 0 {
			word := l.String()
			if l == lint.Info {
				word = "note"
			}
			if n > 1 {
				word += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, word))
		}
	}
	if len(parts) == 0 {
		return "Check complete, no warnings found."
	}
	verb := "have"
	if len(r.Findings) == 1 {
		verb = "has"
	}
	return fmt.Sprintf("Check complete, %s %s been found!", strings.Join(parts, " and "), verb)
}

func writeLintJSON(w io.Writer, r *lint.Report) error {
	out := struct {
		File     string         `json:"file"`
		Findings []lint.Finding `json:"findings"`
		Notes    []string       `json:"notes,omitempty"`
		Errors   int            `json:"errors"`
		Warnings int            `json:"warnings"`
		Infos    int            `json:"infos"`
		// BuildKit could not convert the Dockerfile: the check fails.
		BuildError *lintBuildError `json:"buildError,omitempty"`
	}{File: r.File, Findings: r.Findings, Notes: r.Notes, Errors: r.Count(lint.Error), Warnings: r.Count(lint.Warning), Infos: r.Count(lint.Info)}
	if e := r.BuildError; e != nil {
		out.BuildError = &lintBuildError{Message: e.Msg, Line: e.Line}
	}
	if out.Findings == nil {
		out.Findings = []lint.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

type lintBuildError struct {
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
}

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/), the
// subset code-scanning UIs read: one run, the rules that fired, a result
// per finding with its region.
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
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID               string    `json:"id"`
	ShortDescription sarifText `json:"shortDescription"`
	FullDescription  sarifText `json:"fullDescription"`
	HelpURI          string    `json:"helpUri,omitempty"`
	Help             sarifText `json:"help"`
	Default          struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	Physical struct {
		Artifact struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
		Region *sarifRegion `json:"region,omitempty"`
	} `json:"physicalLocation"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
	EndLine   int `json:"endLine"`
}

func sarifLevel(l lint.Level) string {
	switch l {
	case lint.Error:
		return "error"
	case lint.Warning:
		return "warning"
	}
	return "note"
}

func writeLintSARIF(w io.Writer, r *lint.Report) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "berth", InformationURI: lint.DocsURL, Rules: []sarifRule{}}}, Results: []sarifResult{}}
	index := map[string]int{}
	for _, f := range r.Findings {
		i, ok := index[f.Rule]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			index[f.Rule] = i
			sr := sarifRule{ID: f.Rule, HelpURI: f.URL, ShortDescription: sarifText{f.Why}, FullDescription: sarifText{f.Why},
				Help: sarifText{f.Fix + " (" + f.URL + ")"}}
			sr.Default.Level = sarifLevel(f.Level)
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sr)
		}
		res := sarifResult{RuleID: f.Rule, RuleIndex: i, Level: sarifLevel(f.Level), Message: sarifText{f.Message + ". Fix: " + f.Fix}}
		var loc sarifLocation
		loc.Physical.Artifact.URI = f.File
		if f.Line > 0 {
			loc.Physical.Region = &sarifRegion{StartLine: f.Line, EndLine: max(f.EndLine, f.Line)}
		}
		res.Locations = []sarifLocation{loc}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}})
}

// printableLine keeps a Dockerfile's text (untrusted) from driving the
// terminal: control characters other than tab become '?'.
func printableLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\t' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
