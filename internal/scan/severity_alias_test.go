package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/scan/scantest"
	"github.com/berth-dev/berth/internal/scan/vulndb"
)

// TestSeverityThroughUpstream uses the record shapes osv.dev publishes
// today: a DSA names its DEBIAN-CVE- records and the CVEs as upstream, a
// DEBIAN-CVE- record carries NVD's vector when NVD has one and names its
// CVE as upstream, a CVE record (the GIT export) carries the CNA's vector.
// Each finding must take the nearest score, the DSA must be folded into
// its per-CVE findings, and only a finding with no score anywhere is
// UNKNOWN.
func TestSeverityThroughUpstream(t *testing.T) {
	root := t.TempDir()
	status := "Package: libfoo1\nStatus: install ok installed\nVersion: 1.0-1\nSource: foo\nArchitecture: amd64\nMaintainer: t\nDescription: foo\n\n" +
		"Package: bar\nStatus: install ok installed\nVersion: 2.0-1\nArchitecture: amd64\nMaintainer: t\nDescription: bar\n"
	files := map[string]string{
		"etc/os-release":                         string(scantest.DebianOSRelease),
		"var/lib/dpkg/status":                    status,
		"app/node_modules/left-pad/package.json": `{"name": "left-pad", "version": "1.3.0"}`,
	}
	for p, d := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dsa := osvRecord("DSA-6001-1", nil, "Debian:12", "foo", "0", "1.0-2", "")
	dsa["upstream"] = []string{"CVE-2099-0001", "CVE-2099-0002", "DEBIAN-CVE-2099-0001", "DEBIAN-CVE-2099-0002"}
	deb1 := osvRecord("DEBIAN-CVE-2099-0001", nil, "Debian:12", "foo", "0", "1.0-2", critical)
	deb1["upstream"] = []string{"CVE-2099-0001"}
	deb2 := osvRecord("DEBIAN-CVE-2099-0002", nil, "Debian:12", "foo", "0", "1.0-2", "")
	deb2["upstream"] = []string{"CVE-2099-0002"}
	deb3 := osvRecord("DEBIAN-CVE-2099-0003", nil, "Debian:12", "bar", "0", "", "")
	deb3["upstream"] = []string{"CVE-2099-0003"}
	ghsa := osvRecord("GHSA-pppp-qqqq-rrrr", []string{"CVE-2099-0004"}, "npm", "left-pad", "0", "1.3.1", "")
	ghsa["database_specific"] = map[string]any{"severity": "LOW", "github_reviewed": true}
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	importInto(t, dbPath, vulndb.ImportOptions{}, dsa, deb1, deb2, deb3, ghsa)
	// The CVE records come from an export of an ecosystem berth does not
	// match (GIT): only their severities are kept, under their ids.
	importInto(t, dbPath, vulndb.ImportOptions{Whole: func(eco string) bool { return eco != "GIT" }},
		cveRecord("CVE-2099-0001", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N"), // DEBIAN-CVE's own NVD score wins
		cveRecord("CVE-2099-0002", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"), // 5.5
		cveRecord("CVE-2099-0004", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"), // 7.5 beats GitHub's bare rating
	)
	db, err := vulndb.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.Get("CVE-2099-0002"); v != nil {
		t.Error("a GIT record was kept whole")
	}
	inv, err := scan.DirInventory(context.Background(), root, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	findings, err := scan.Match(context.Background(), inv, db)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		rating string
		score  float64
		from   string
	}{
		"DEBIAN-CVE-2099-0001": {"CRITICAL", 9.8, "DEBIAN-CVE-2099-0001"},
		"DEBIAN-CVE-2099-0002": {"MEDIUM", 5.5, "CVE-2099-0002"},
		"DEBIAN-CVE-2099-0003": {"UNKNOWN", 0, ""},
		"GHSA-pppp-qqqq-rrrr":  {"HIGH", 7.5, "CVE-2099-0004"},
	}
	if len(findings) != len(want) {
		t.Errorf("findings %v, want %d", ids(findings), len(want))
	}
	for _, f := range findings {
		w, ok := want[f.ID]
		if !ok {
			t.Errorf("unexpected finding %s for %s", f.ID, f.Package.Name)
			continue
		}
		if f.Severity != w.rating || f.Score != w.score || f.SeverityFrom != w.from {
			t.Errorf("%s: %s %.1f from %q, want %s %.1f from %q", f.ID, f.Severity, f.Score, f.SeverityFrom, w.rating, w.score, w.from)
		}
		if f.ID == "DEBIAN-CVE-2099-0001" || f.ID == "DEBIAN-CVE-2099-0002" {
			if !contains(f.Aliases, "DSA-6001-1") {
				t.Errorf("%s aliases %v lack the DSA it is fixed by", f.ID, f.Aliases)
			}
		}
	}
	// --severity HIGH,CRITICAL keeps exactly the scored findings rated so.
	res := scan.Policy{Severities: []string{"HIGH", "CRITICAL"}}.Apply(findings)
	if len(res.Findings) != 2 {
		t.Errorf("--severity HIGH,CRITICAL kept %v", ids(res.Findings))
	}
}
