package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/lint"
	"github.com/berth-dev/berth/internal/output"
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

func sarifLevel(l lint.Level) string {
	switch l {
	case lint.Error:
		return "error"
	case lint.Warning:
		return "warning"
	}
	return "note"
}

// writeLintSARIF writes the findings as SARIF 2.1.0: a rule per rule id
// that fired (with its why, fix and URL) and a result per finding with its
// lines.
func writeLintSARIF(w io.Writer, r *lint.Report) error {
	run := output.SARIFRun{Tool: output.SARIFTool{Driver: output.SARIFDriver{Name: "berth", InformationURI: lint.DocsURL}}}
	index := map[string]int{}
	for _, f := range r.Findings {
		i, ok := index[f.Rule]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			index[f.Rule] = i
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, output.SARIFRule{
				ID: f.Rule, HelpURI: f.URL, ShortDescription: output.SARIFText{Text: f.Why}, FullDescription: &output.SARIFText{Text: f.Why},
				Help: &output.SARIFText{Text: f.Fix + " (" + f.URL + ")"}, Default: &output.SARIFRuleDefaults{Level: sarifLevel(f.Level)},
			})
		}
		loc := output.SARIFLocation{Physical: output.SARIFPhysical{Artifact: output.SARIFArtifact{URI: f.File}}}
		if f.Line > 0 {
			loc.Physical.Region = &output.SARIFRegion{StartLine: f.Line, EndLine: max(f.EndLine, f.Line)}
		}
		run.Results = append(run.Results, output.SARIFResult{RuleID: f.Rule, RuleIndex: &i, Level: sarifLevel(f.Level),
			Message: output.SARIFText{Text: f.Message + ". Fix: " + f.Fix}, Locations: []output.SARIFLocation{loc}})
	}
	return output.WriteSARIF(w, run)
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
