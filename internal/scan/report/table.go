package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/berth-dev/berth/internal/scan"
)

// Table prints trivy's summary line and one row per finding, with the layer
// the package came from.
func Table(w io.Writer, r *Report) error {
	fs := r.Result.Findings
	counts := map[string]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	target := r.Target
	if r.Inventory != nil && r.Inventory.OS != "" {
		target += " (" + r.Inventory.OS + ")"
	}
	fmt.Fprintf(w, "\n%s\n%s\n", target, strings.Repeat("=", len(target)))
	var parts []string
	for _, s := range scan.Severities {
		parts = append(parts, fmt.Sprintf("%s: %d", s, counts[s]))
	}
	fmt.Fprintf(w, "Total: %d (%s)\n\n", len(fs), strings.Join(parts, ", "))
	if len(fs) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LIBRARY\tVULNERABILITY ID\tSEVERITY\tINSTALLED VERSION\tFIXED VERSION\tLAYER\tTITLE")
		for _, f := range fs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Package.Name, f.ID, f.Severity, f.Package.Version, f.Fixed, layerText(f.Package.Layer), f.Title)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func layerText(l scan.LayerRef) string {
	cb := strings.TrimSpace(strings.TrimPrefix(l.CreatedBy, "/bin/sh -c "))
	cb = strings.TrimSpace(strings.TrimPrefix(cb, "#(nop) "))
	if len(cb) > 40 {
		cb = cb[:37] + "..."
	}
	if cb == "" {
		return fmt.Sprintf("#%d", l.Index)
	}
	return fmt.Sprintf("#%d %s", l.Index, cb)
}

type jsonReport struct {
	SchemaVersion   int            `json:"SchemaVersion"`
	ArtifactName    string         `json:"ArtifactName"`
	Digest          string         `json:"Digest,omitempty"`
	OS              string         `json:"OS,omitempty"`
	CreatedAt       string         `json:"CreatedAt"`
	Summary         map[string]int `json:"Summary"`
	Vulnerabilities []jsonVuln     `json:"Vulnerabilities"`
	Ignored         []jsonVuln     `json:"Ignored,omitempty"`
	Notes           []string       `json:"Notes,omitempty"`
	Warnings        []string       `json:"Warnings,omitempty"`
}

type jsonVuln struct {
	VulnerabilityID  string            `json:"VulnerabilityID"`
	Aliases          []string          `json:"Aliases,omitempty"`
	PkgName          string            `json:"PkgName"`
	PkgPath          string            `json:"PkgPath"`
	PkgIdentifier    map[string]string `json:"PkgIdentifier,omitempty"`
	Ecosystem        string            `json:"Ecosystem,omitempty"`
	InstalledVersion string            `json:"InstalledVersion"`
	FixedVersion     string            `json:"FixedVersion,omitempty"`
	Severity         string            `json:"Severity"`
	CVSSScore        float64           `json:"CVSSScore,omitempty"`
	CVSSVector       string            `json:"CVSSVector,omitempty"`
	Title            string            `json:"Title,omitempty"`
	PrimaryURL       string            `json:"PrimaryURL"`
	Layer            jsonLayer         `json:"Layer"`
}

type jsonLayer struct {
	Index     int    `json:"Index"`
	DiffID    string `json:"DiffID,omitempty"`
	CreatedBy string `json:"CreatedBy,omitempty"`
}

func toJSONVulns(fs []scan.Finding) []jsonVuln {
	out := make([]jsonVuln, 0, len(fs))
	for _, f := range fs {
		v := jsonVuln{
			VulnerabilityID: f.ID, Aliases: f.Aliases, PkgName: f.Package.Name, PkgPath: f.Package.Path,
			Ecosystem: f.Package.Ecosystem, InstalledVersion: f.Package.Version, FixedVersion: f.Fixed,
			Severity: f.Severity, CVSSScore: f.Score, CVSSVector: f.Vector, Title: f.Title, PrimaryURL: f.URL,
			Layer: jsonLayer{f.Package.Layer.Index, f.Package.Layer.DiffID, f.Package.Layer.CreatedBy},
		}
		if f.Package.PURL != "" {
			v.PkgIdentifier = map[string]string{"PURL": f.Package.PURL}
		}
		out = append(out, v)
	}
	return out
}

// JSON prints berth's report, field names as trivy's where they mean the same.
func JSON(w io.Writer, r *Report) error {
	jr := jsonReport{SchemaVersion: 1, ArtifactName: r.Target, Digest: r.Digest, CreatedAt: r.Created.UTC().Format("2006-01-02T15:04:05Z"), Summary: map[string]int{}}
	for _, s := range scan.Severities {
		jr.Summary[s] = 0
	}
	for _, f := range r.Result.Findings {
		jr.Summary[f.Severity]++
	}
	jr.Vulnerabilities = toJSONVulns(r.Result.Findings)
	if len(r.Result.Ignored) > 0 {
		jr.Ignored = toJSONVulns(r.Result.Ignored)
	}
	jr.Notes = r.Result.Notes
	if r.Inventory != nil {
		jr.OS = r.Inventory.OS
		jr.Warnings = r.Inventory.Warnings
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jr)
}

// Packages prints the inventory, one package per line (`berth sbom`'s table).
func Packages(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tTYPE\tPATH\tLAYER")
	if r.Inventory != nil {
		for _, p := range r.Inventory.Packages {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Ecosystem, p.Path, layerText(p.Layer))
		}
	}
	return tw.Flush()
}
