package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/scan"
)

// ScoutPackages prints Docker Scout's default "packages" view of `cves`:
// an overview, then each vulnerable package with its severity counts and
// its vulnerabilities, most severe first.
func ScoutPackages(w io.Writer, r *Report) error {
	type group struct {
		pkg      scan.Package
		findings []scan.Finding
		counts   [5]int
	}
	var groups []*group
	byKey := map[string]*group{}
	total := [5]int{}
	for _, f := range r.Result.Findings {
		k := f.Package.Name + "\x00" + f.Package.Version + "\x00" + f.Package.Path
		g := byKey[k]
		if g == nil {
			g = &group{pkg: f.Package}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.findings = append(g.findings, f)
		g.counts[4-scan.SeverityRank(f.Severity)]++
		total[4-scan.SeverityRank(f.Severity)]++
	}
	pkgs := 0
	if r.Inventory != nil {
		pkgs = len(r.Inventory.Packages)
	}
	fmt.Fprintf(w, "## Overview\n\n")
	fmt.Fprintf(w, "    Target            │  %s\n", r.Target)
	if r.Digest != "" {
		fmt.Fprintf(w, "      digest          │  %s\n", r.Digest)
	}
	fmt.Fprintf(w, "      packages        │  %d\n", pkgs)
	fmt.Fprintf(w, "      vulnerabilities │  %s\n\n", counts(total))
	fmt.Fprintf(w, "## Packages and Vulnerabilities\n\n")
	if len(groups) == 0 {
		fmt.Fprintf(w, "No vulnerable package detected\n")
		return nil
	}
	for _, g := range groups {
		fmt.Fprintf(w, "%s  %s %s\n", counts(g.counts), g.pkg.Name, g.pkg.Version)
		if g.pkg.PURL != "" {
			fmt.Fprintf(w, "%s\n", g.pkg.PURL)
		}
		fmt.Fprintf(w, "layer %s\n\n", layerText(g.pkg.Layer))
		for _, f := range g.findings {
			fmt.Fprintf(w, "    ✗ %s %s\n", f.Severity, f.ID)
			if f.Title != "" {
				fmt.Fprintf(w, "      %s\n", f.Title)
			}
			fmt.Fprintf(w, "      %s\n", f.URL)
			fix := f.Fixed
			if fix == "" {
				fix = "not fixed"
			}
			fmt.Fprintf(w, "      Fixed version  : %s\n", fix)
			if len(f.Aliases) > 0 {
				fmt.Fprintf(w, "      Aliases        : %s\n", strings.Join(f.Aliases, ", "))
			}
			fmt.Fprintln(w)
		}
	}
	_, err := fmt.Fprintf(w, "%d vulnerabilities found in %d packages\n", len(r.Result.Findings), len(groups))
	return err
}

// counts renders critical, high, medium, low and unspecified counts as
// Scout does: "0C 1H 2M 0L 3?".
func counts(c [5]int) string {
	return fmt.Sprintf("%3dC %3dH %3dM %3dL %3d?", c[0], c[1], c[2], c[3], c[4])
}
