package tui

import (
	"fmt"
	"io"

	"github.com/dustin/go-humanize"

	"github.com/berth-dev/berth/internal/analyze"
)

// WriteText writes the non-interactive view: the layers, the figures and
// the wasted files.
func WriteText(w io.Writer, r *analyze.Report) {
	fmt.Fprintf(w, "Image: %s (%s)\n\n", analyze.Printable(r.Image), r.Source)
	fmt.Fprintf(w, "%-5s %10s %8s  %s\n", "LAYER", "SIZE", "FILES", "COMMAND")
	for _, l := range r.Layers {
		fmt.Fprintf(w, "%-5d %10s %8d  %s\n", l.Index+1, humanize.Bytes(uint64(l.Size)), l.Files, oneLine(l.Command))
	}
	fmt.Fprintf(w, "\nTotal Image size: %s\n", humanize.Bytes(r.SizeBytes))
	fmt.Fprintf(w, "Potential wasted space: %s\n", humanize.Bytes(r.WastedBytes))
	fmt.Fprintf(w, "Image efficiency score: %.4f %%\n", 100*r.Efficiency)
	fmt.Fprintf(w, "User wasted percent: %.4f %%\n", 100*r.UserWastedPercent)
	if len(r.Inefficiencies) > 0 {
		fmt.Fprintf(w, "\n%5s  %12s  %-12s  %s\n", "Count", "Wasted Space", "Layers", "File Path")
		for _, in := range r.Inefficiencies {
			layers := ""
			for i, l := range in.Layers {
				if i > 0 {
					layers += ","
				}
				layers += fmt.Sprint(l + 1)
			}
			fmt.Fprintf(w, "%5d  %12s  %-12s  %s\n", in.Count, humanize.Bytes(uint64(in.Size)), layers, analyze.Printable(in.Path))
		}
	}
	for _, l := range r.Layers {
		for _, wm := range l.Warnings {
			fmt.Fprintf(w, "warning: layer %d: %s\n", l.Index+1, analyze.Printable(wm))
		}
	}
	fmt.Fprintln(w)
}
