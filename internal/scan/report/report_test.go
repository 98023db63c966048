package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/scan"
)

func sample() *Report {
	text := scan.Package{Name: "golang.org/x/text", Version: "0.3.2", Ecosystem: "Go", PURL: "pkg:golang/golang.org/x/text@0.3.2", Path: "usr/local/bin/app", Extractor: "go/binary", Layer: scan.LayerRef{Index: 1, CreatedBy: "/bin/sh -c #(nop) COPY app /usr/local/bin/"}}
	libc := scan.Package{Name: "libc6", Version: "2.36-9", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/libc6@2.36-9?arch=amd64", Path: "var/lib/dpkg/status", Extractor: "os/dpkg"}
	return &Report{
		Target: "app:1", Digest: "sha256:" + strings.Repeat("a", 64), Created: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Tool: "berth", Version: "test",
		Inventory: &scan.Inventory{Packages: []scan.Package{text, libc}, OS: "Debian GNU/Linux 12 (bookworm)"},
		Result: scan.Result{Findings: []scan.Finding{
			{ID: "GO-2022-1059", Aliases: []string{"CVE-2022-32149"}, Package: text, Fixed: "0.3.8", Severity: "HIGH", Score: 7.5, Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", Title: "Denial of service", URL: "https://osv.dev/vulnerability/GO-2022-1059"},
			{ID: "DEBIAN-CVE-2099-1", Package: libc, Severity: "UNKNOWN", URL: "https://osv.dev/vulnerability/DEBIAN-CVE-2099-1"},
		}},
	}
}

// TestFormats: every format renders both findings, JSON formats parse, and
// rendering is deterministic.
func TestFormats(t *testing.T) {
	for _, f := range Formats {
		t.Run(f, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := Write(&a, f, sample()); err != nil {
				t.Fatal(err)
			}
			if err := Write(&b, f, sample()); err != nil {
				t.Fatal(err)
			}
			if a.String() != b.String() {
				t.Error("output differs between two renderings of the same report")
			}
			out := a.String()
			for _, id := range []string{"GO-2022-1059", "DEBIAN-CVE-2099-1"} {
				if !strings.Contains(out, id) {
					t.Errorf("%s output lacks %s:\n%s", f, id, out)
				}
			}
			if f != "table" && f != "packages" {
				var v any
				if err := json.Unmarshal(a.Bytes(), &v); err != nil {
					t.Errorf("%s is not JSON: %v", f, err)
				}
			}
		})
	}
	var tbl bytes.Buffer
	Table(&tbl, sample())
	if !strings.Contains(tbl.String(), "Total: 2 (CRITICAL: 0, HIGH: 1, MEDIUM: 0, LOW: 0, UNKNOWN: 1)") || !strings.Contains(tbl.String(), "#1 COPY app /usr/local/bin/") {
		t.Errorf("table:\n%s", tbl.String())
	}
	if err := Write(&tbl, "xml", sample()); err == nil {
		t.Error("unknown format accepted")
	}
}
