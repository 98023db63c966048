package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/scan/scantest"
	"github.com/berth-dev/berth/internal/scan/vulndb"
)

// TestGoBinaryAgainstGoVulnDB is the real-data check: a program built with
// golang.org/x/text v0.3.2 and gopkg.in/yaml.v2 v2.2.2 is vulnerable to
// GO-2022-1059 (CVE-2022-32149) and GO-2022-0956 (CVE-2022-3064); rebuilt
// with x/text v0.3.8 it no longer has GO-2022-1059.
func TestGoBinaryAgainstGoVulnDB(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	src, err := vulndb.Import(ctx, dbPath, scantest.GoVulnDB(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.Records < 4000 || src.Skipped != 0 {
		t.Fatalf("imported %d records, skipped %d; want the whole Go database", src.Records, src.Skipped)
	}
	// GitHub's advisory for the same vulnerability, in osv.dev's shape, as a
	// second source: it must merge with GO-2022-1059 and lend its CVSS.
	ghsa := t.TempDir()
	if err := os.WriteFile(filepath.Join(ghsa, "GHSA-69ch-w2m2-3vjp.json"), []byte(`{
  "schema_version": "1.4.0", "id": "GHSA-69ch-w2m2-3vjp", "modified": "2026-10-01T00:00:00Z",
  "aliases": ["CVE-2022-32149"], "related": ["GO-2022-1059"],
  "summary": "golang.org/x/text/language Denial of service via crafted Accept-Language header",
  "affected": [{"package": {"ecosystem": "Go", "name": "golang.org/x/text", "purl": "pkg:golang/golang.org/x/text"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.3.8"}]}]}],
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
  "database_specific": {"github_reviewed": true, "severity": "HIGH", "cwe_ids": ["CWE-400"]}
}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.Import(ctx, dbPath, ghsa, nil); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cache, err := scan.OpenCache(filepath.Join(t.TempDir(), "layers.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()

	tests := []struct {
		text      string
		want      map[string]string // id -> fixed version
		wantNotID string
	}{
		{text: "v0.3.2", want: map[string]string{"GO-2022-1059": "0.3.8", "GO-2022-0956": "2.2.4"}},
		{text: "v0.3.8", want: map[string]string{"GO-2022-0956": "2.2.4"}, wantNotID: "GO-2022-1059"},
	}
	for _, tc := range tests {
		t.Run("x/text@"+tc.text, func(t *testing.T) {
			prog := scantest.GoProgram(t, tc.text, "v2.2.2")
			img := scantest.Image(t,
				scantest.Step{CreatedBy: "/bin/sh -c #(nop) ADD file:base in /", Files: []scantest.File{{Name: "etc/os-release", Data: scantest.DebianOSRelease}}},
				scantest.Step{CreatedBy: "COPY vulnapp /usr/local/bin/vulnapp # buildkit", Files: []scantest.File{{Name: "usr/local/bin/vulnapp", Data: prog, Mode: 0o755}}},
			)
			layers, err := scan.LayersFromImage(img)
			if err != nil {
				t.Fatal(err)
			}
			inv, err := scan.ImageInventory(ctx, layers, scan.Options{Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			// The base layer is shared with the other build: its inventory
			// comes from the cache, the rebuilt binary's layer does not.
			if tc.text == "v0.3.8" && inv.Cached != 1 {
				t.Errorf("%d layers from the cache, want the shared base only", inv.Cached)
			}
			findings, err := scan.Match(ctx, inv, db)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]scan.Finding{}
			for _, f := range findings {
				got[f.ID] = f
				if f.Package.Name == "example.com/vulnapp" {
					t.Errorf("the (devel) main module was flagged: %s", f.ID)
				}
			}
			for id, fixed := range tc.want {
				f, ok := got[id]
				if !ok {
					t.Errorf("missing %s; findings: %v", id, ids(findings))
					continue
				}
				if !strings.Contains(f.Fixed, fixed) {
					t.Errorf("%s fixed version %q, want %s", id, f.Fixed, fixed)
				}
				if f.Package.Layer.Index != 1 || !strings.HasPrefix(f.Package.Layer.CreatedBy, "COPY vulnapp") {
					t.Errorf("%s attributed to layer %+v, want the COPY layer", id, f.Package.Layer)
				}
				if f.Package.Path != "usr/local/bin/vulnapp" {
					t.Errorf("%s found in %q", id, f.Package.Path)
				}
			}
			if f, ok := got["GO-2022-1059"]; ok {
				if !contains(f.Aliases, "CVE-2022-32149") || !contains(f.Aliases, "GHSA-69ch-w2m2-3vjp") {
					t.Errorf("GO-2022-1059 aliases %v lack CVE-2022-32149 / GHSA-69ch-w2m2-3vjp", f.Aliases)
				}
				if f.Severity != "HIGH" || f.Score != 7.5 {
					t.Errorf("GO-2022-1059 severity %s %.1f, want HIGH 7.5 from the GHSA record", f.Severity, f.Score)
				}
			}
			if _, dup := got["GHSA-69ch-w2m2-3vjp"]; dup {
				t.Error("GHSA-69ch-w2m2-3vjp reported separately from GO-2022-1059")
			}
			if tc.wantNotID != "" {
				if _, ok := got[tc.wantNotID]; ok {
					t.Errorf("%s reported for x/text %s", tc.wantNotID, tc.text)
				}
			}
			stdlib := false
			for _, p := range inv.Packages {
				if p.Name == "go" || p.Name == "stdlib" {
					stdlib = true
				}
			}
			if !stdlib {
				t.Error("the Go standard library version was not inventoried")
			}

			// A second scan of the same layers reads them from the cache.
			start := time.Now()
			again, err := scan.ImageInventory(ctx, layers, scan.Options{Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			if again.Cached != len(layers) || len(again.Packages) != len(inv.Packages) {
				t.Errorf("second scan: %d of %d layers cached, %d packages (first %d)", again.Cached, len(layers), len(again.Packages), len(inv.Packages))
			}
			f2, err := scan.Match(ctx, again, db)
			if err != nil {
				t.Fatal(err)
			}
			if len(f2) != len(findings) {
				t.Errorf("cached scan found %d vulnerabilities, first scan %d", len(f2), len(findings))
			}
			t.Logf("%d packages, %d findings, second scan %s", len(inv.Packages), len(findings), time.Since(start))
		})
	}
}

func ids(fs []scan.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+"("+f.Package.Name+"@"+f.Package.Version+")")
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
