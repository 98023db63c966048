package report

import (
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/internal/scan"
)

// Report is one scanned target.
type Report struct {
	Target    string // the reference or path the user named
	Digest    string // image manifest digest, when an image
	Inventory *scan.Inventory
	Result    scan.Result
	Created   time.Time
	Tool      string // "berth"
	Version   string
}

// Formats lists the accepted --format values.
var Formats = []string{"table", "json", "sarif", "cyclonedx", "spdx-json", "packages"}

// Write renders r in format to w.
func Write(w io.Writer, format string, r *Report) error {
	switch format {
	case "table", "":
		return Table(w, r)
	case "json":
		return JSON(w, r)
	case "sarif":
		return SARIF(w, r)
	case "cyclonedx":
		return CycloneDX(w, r, true)
	case "spdx-json":
		return SPDX(w, r)
	case "packages":
		return ScoutPackages(w, r)
	}
	return fmt.Errorf("unknown format %q (want table, json, sarif, cyclonedx, spdx-json or packages)", format)
}
