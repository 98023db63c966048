package scan_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/scan/scantest"
	"github.com/berth-dev/berth/internal/scan/vulndb"
	"github.com/berth-dev/berth/internal/testenv"
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
	writeTree(t, root, files)
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

// TestRubyGemsAndCratesMatching: installed gems (their gemspecs under
// specifications/) and a Cargo.lock are inventoried and matched against
// GitHub's and RustSec's records in osv.dev's shape.
func TestRubyGemsAndCratesMatching(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"etc/os-release": string(scantest.DebianOSRelease),
		"usr/local/bundle/specifications/rack-2.2.3.gemspec": "# -*- encoding: utf-8 -*-\n# stub: rack 2.2.3 ruby lib\n\nGem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"2.2.3\"\n  s.summary = \"a modular Ruby webserver interface\".freeze\nend\n",
		"srv/app/Cargo.lock": "version = 3\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n",
	}
	writeTree(t, root, files)
	rack := osvRecord("GHSA-wq4h-7r42-5hrr", []string{"CVE-2022-30122"}, "RubyGems", "rack", "0", "2.2.3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H")
	smallvec := osvRecord("RUSTSEC-2021-0003", []string{"CVE-2021-25900", "GHSA-43w2-9j62-hq99"}, "crates.io", "smallvec", "0.6.3", "1.6.1", "")
	ghsaSmallvec := osvRecord("GHSA-43w2-9j62-hq99", []string{"CVE-2021-25900"}, "crates.io", "smallvec", "0.6.3", "1.6.1", critical)
	db := importRecords(t, rack, smallvec, ghsaSmallvec)
	inv, err := scan.DirInventory(context.Background(), root, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(scan.EcosystemsOf(inv), ","); got != "RubyGems,crates.io" {
		t.Errorf("ecosystems %s, want RubyGems,crates.io", got)
	}
	findings, err := scan.Match(context.Background(), inv, db)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"GHSA-wq4h-7r42-5hrr": "rack HIGH", "RUSTSEC-2021-0003": "smallvec CRITICAL"}
	if len(findings) != len(want) {
		t.Errorf("findings %v, want %v", ids(findings), want)
	}
	for _, f := range findings {
		if got := f.Package.Name + " " + f.Severity; got != want[f.ID] {
			t.Errorf("%s: %s, want %s", f.ID, got, want[f.ID])
		}
	}
}

// TestRustAuditableBinary: a binary carrying cargo-auditable's .dep-v0
// section (zlib-compressed JSON of its crates, as `cargo auditable build`
// writes it; added here with binutils' objcopy to a real ELF file) is
// inventoried among ordinary executables, and its crates are matched.
func TestRustAuditableBinary(t *testing.T) {
	objcopy := testenv.Peer(t, "objcopy")
	dir := t.TempDir()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(`{"packages":[{"name":"rustapp","version":"0.1.0","source":"local","dependencies":[1],"root":true},{"name":"smallvec","version":"1.6.0","source":"crates.io"},{"name":"cc","version":"1.0.0","source":"crates.io","kind":"build"}]}`))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "deps"), z.Bytes(), 0o644)
	elf, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip("no /bin/true to build on")
	}
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, elf, 0o755)
	rust := filepath.Join(dir, "rustapp")
	if out, err := exec.Command(objcopy, "--add-section", ".dep-v0="+filepath.Join(dir, "deps"), plain, rust).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v %s", err, out)
	}
	bin, _ := os.ReadFile(rust)
	img := scantest.Image(t, scantest.Step{CreatedBy: "COPY . /", Files: []scantest.File{
		{Name: "etc/os-release", Data: scantest.DebianOSRelease},
		{Name: "usr/local/bin/rustapp", Data: bin, Mode: 0o755},
		{Name: "usr/bin/true", Data: elf, Mode: 0o755},
	}})
	layers, err := scan.LayersFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := scan.ImageInventory(context.Background(), layers, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, p.Name+"@"+p.Version+" "+p.Ecosystem+" "+p.Path)
	}
	if strings.Join(got, ",") != "rustapp@0.1.0 crates.io usr/local/bin/rustapp,smallvec@1.6.0 crates.io usr/local/bin/rustapp" {
		t.Errorf("packages %v", got)
	}
	db := importRecords(t, osvRecord("RUSTSEC-2021-0003", []string{"CVE-2021-25900"}, "crates.io", "smallvec", "0.6.3", "1.6.1", critical))
	findings, err := scan.Match(context.Background(), inv, db)
	if err != nil || len(findings) != 1 || findings[0].Severity != "CRITICAL" {
		t.Errorf("findings %v, %v", ids(findings), err)
	}
}
