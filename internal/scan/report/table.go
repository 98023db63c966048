package report

import (
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
