package scan_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/scan/scantest"
	"github.com/berth-dev/berth/internal/scan/vulndb"
)

// osvRecord writes a record in osv.dev's shape: one affected package with
// an ECOSYSTEM range.
func osvRecord(id string, aliases []string, eco, name, introduced, fixed string, cvss string) map[string]any {
	events := []map[string]string{{"introduced": introduced}}
	if fixed != "" {
		events = append(events, map[string]string{"fixed": fixed})
	}
	rec := map[string]any{
		"schema_version": "1.6.0",
		"id":             id,
		"modified":       "2026-10-01T12:00:00Z",
		"published":      "2026-09-01T12:00:00Z",
		"aliases":        aliases,
		"summary":        id + " in " + name,
		"affected": []map[string]any{{
			"package":           map[string]string{"ecosystem": eco, "name": name},
			"ranges":            []map[string]any{{"type": "ECOSYSTEM", "events": events}},
			"database_specific": map[string]string{"source": "https://example.invalid/" + id + ".json"},
		}},
	}
	if cvss != "" {
		rec["severity"] = []map[string]string{{"type": "CVSS_V3", "score": cvss}}
	}
	return rec
}

// cveRecord is osv.dev's CVE record shape: severity, no package ranges.
func cveRecord(id, cvss string) map[string]any {
	return map[string]any{
		"schema_version": "1.6.0", "id": id, "modified": "2026-10-01T12:00:00Z",
		"details":  "A test vulnerability.",
		"severity": []map[string]string{{"type": "CVSS_V3", "score": cvss}},
		"affected": []map[string]any{{"ranges": []map[string]any{{"type": "GIT", "repo": "https://example.invalid/repo", "events": []map[string]string{{"introduced": "0"}}}}}},
	}
}

func importRecords(t *testing.T, recs ...map[string]any) *vulndb.DB {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	importInto(t, dbPath, vulndb.ImportOptions{}, recs...)
	db, err := vulndb.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// importInto imports recs, as one directory of JSON files, into the
// database at dbPath.
func importInto(t *testing.T, dbPath string, opts vulndb.ImportOptions, recs ...map[string]any) {
	t.Helper()
	dir := t.TempDir()
	for _, r := range recs {
		data, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, r["id"].(string)+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := vulndb.ImportWith(context.Background(), dbPath, dir, opts); err != nil {
		t.Fatal(err)
	}
}

const critical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" // 9.8

// TestDebianMatching scans an image whose dpkg database is this machine's
// real one: records name the source package (glibc for libc6), respect the
// Debian release suffix, merge DSA/DEBIAN-CVE aliases and take severity
// from the CVE record.
func TestDebianMatching(t *testing.T) {
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Skip("no dpkg database on this machine")
	}
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "libc6").Output()
	if err != nil || len(out) == 0 {
		t.Skip("libc6 not installed")
	}
	libcVersion := string(out)
	db := importRecords(t,
		osvRecord("DSA-9001-1", []string{"CVE-2099-1001"}, "Debian:12", "glibc", "0", libcVersion+"+zz1", ""),
		osvRecord("DEBIAN-CVE-2099-1001", []string{"CVE-2099-1001"}, "Debian:12", "glibc", "0", libcVersion+"+zz1", ""),
		cveRecord("CVE-2099-1001", critical),
		osvRecord("DSA-9002-1", nil, "Debian:11", "glibc", "0", libcVersion+"+zz1", ""), // other release
		osvRecord("DSA-9003-1", nil, "Debian:12", "glibc", "0", "2.0-1", ""),            // already fixed
		osvRecord("DSA-9004-1", nil, "Debian:12", "libc6", "0", libcVersion+"+zz1", ""), // binary name, not source
		osvRecord("DEBIAN-CVE-2099-1005", nil, "Debian:12", "berth-extra", "0", "", ""), // unfixed, added later
	)
	extra := "\nPackage: berth-extra\nStatus: install ok installed\nPriority: optional\nVersion: 1.0-1\nArchitecture: all\nMaintainer: test\nDescription: added by a later layer\n"
	img := scantest.Image(t,
		scantest.Step{CreatedBy: "/bin/sh -c #(nop) ADD file:debian in /", Files: []scantest.File{
			{Name: "usr/lib/os-release", Data: scantest.DebianOSRelease},
			{Name: "etc/os-release", Link: "../usr/lib/os-release"},
			{Name: "var/lib/dpkg/status", Data: status},
		}},
		scantest.Step{CreatedBy: "RUN apt-get install -y berth-extra", Files: []scantest.File{
			{Name: "var/lib/dpkg/status", Data: append(append([]byte{}, status...), extra...)},
		}},
	)
	layers, err := scan.LayersFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := scan.ImageInventory(context.Background(), layers, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	findings, err := scan.Match(context.Background(), inv, db)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]scan.Finding{}
	for _, f := range findings {
		if _, dup := got[f.ID+f.Package.Name]; dup {
			t.Errorf("duplicate finding %s for %s", f.ID, f.Package.Name)
		}
		got[f.ID+f.Package.Name] = f
	}
	for _, name := range []string{"DSA-9002-1", "DSA-9003-1", "DSA-9004-1", "DSA-9001-1", "CVE-2099-1001"} {
		for k := range got {
			if strings.HasPrefix(k, name) {
				t.Errorf("unexpected finding %s", k)
			}
		}
	}
	f, ok := got["DEBIAN-CVE-2099-1001libc6"]
	if !ok {
		t.Fatalf("libc6 (source glibc) not matched; findings %v", ids(findings))
	}
	if f.Severity != "CRITICAL" || f.Score != 9.8 {
		t.Errorf("severity %s %.1f, want CRITICAL 9.8 from the CVE alias", f.Severity, f.Score)
	}
	if !contains(f.Aliases, "DSA-9001-1") || !contains(f.Aliases, "CVE-2099-1001") {
		t.Errorf("aliases %v", f.Aliases)
	}
	if f.Fixed != libcVersion+"+zz1" || f.Package.Ecosystem != "Debian:12" || f.Package.Layer.Index != 0 {
		t.Errorf("finding %+v", f)
	}
	e, ok := got["DEBIAN-CVE-2099-1005berth-extra"]
	if !ok {
		t.Fatalf("berth-extra not matched; findings %v", ids(findings))
	}
	if e.Fixed != "" || e.Severity != "UNKNOWN" || e.Package.Layer.Index != 1 || e.Package.Layer.CreatedBy != "RUN apt-get install -y berth-extra" {
		t.Errorf("berth-extra finding %+v", e)
	}
	// The policy hides unfixed findings on request.
	res := scan.Policy{IgnoreUnfixed: true}.Apply(findings)
	for _, f := range res.Findings {
		if f.Fixed == "" {
			t.Errorf("--ignore-unfixed kept %s", f.ID)
		}
	}
}

// TestAlpineAndNPMMatching inventories a root filesystem with an apk
// database in apk's own format and an npm package under node_modules.
func TestAlpineAndNPMMatching(t *testing.T) {
	root := t.TempDir()
	apkDB := "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\nS:1000\nI:2000\nT:Crypto library from openssl\nU:https://www.openssl.org/\nL:Apache-2.0\no:openssl\nm:Test <t@example.invalid>\nt:1700000000\nc:abc\n\n" +
		"C:Q1def=\nP:busybox\nV:1.36.1-r15\nA:x86_64\nS:1000\nI:2000\nT:Size optimized toolbox\nU:https://busybox.net/\nL:GPL-2.0-only\no:busybox\nm:Test <t@example.invalid>\nt:1700000000\nc:def\n\n"
	files := map[string]string{
		"etc/os-release":                             string(scantest.AlpineOSRelease),
		"lib/apk/db/installed":                       apkDB,
		"app/node_modules/lodash/package.json":       `{"name": "lodash", "version": "4.17.15", "license": "MIT"}`,
		"app/node_modules/left-pad/package.json":     `{"name": "left-pad", "version": "1.3.0"}`,
		"app/node_modules/@scope/thing/package.json": `{"name": "@scope/thing", "version": "2.0.0"}`,
	}
	writeTree(t, root, files)
	db := importRecords(t,
		osvRecord("ALPINE-CVE-2099-2001", []string{"CVE-2099-2001"}, "Alpine:v3.19", "openssl", "0", "3.1.4-r6", ""),
		osvRecord("ALPINE-CVE-2099-2002", nil, "Alpine:v3.18", "openssl", "0", "3.1.4-r6", ""),   // other release
		osvRecord("ALPINE-CVE-2099-2003", nil, "Alpine:v3.19", "busybox", "0", "1.36.1-r15", ""), // fixed in installed
		osvRecord("GHSA-aaaa-bbbb-cccc", []string{"CVE-2099-3001"}, "npm", "lodash", "0", "4.17.21", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
		osvRecord("GHSA-dddd-eeee-ffff", nil, "npm", "@scope/thing", "2.0.0", "2.0.1", ""),
		osvRecord("GHSA-gggg-hhhh-iiii", nil, "npm", "left-pad", "1.3.1", "", ""), // introduced later
	)
	inv, err := scan.DirInventory(context.Background(), root, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	findings, err := scan.Match(context.Background(), inv, db)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // id -> package and fixed version
		"ALPINE-CVE-2099-2001": "libcrypto3 3.1.4-r6",
		"GHSA-aaaa-bbbb-cccc":  "lodash 4.17.21",
		"GHSA-dddd-eeee-ffff":  "@scope/thing 2.0.1",
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
		if got := f.Package.Name + " " + f.Fixed; got != w {
			t.Errorf("%s: %s, want %s", f.ID, got, w)
		}
		if f.ID == "GHSA-aaaa-bbbb-cccc" && f.Severity != "HIGH" {
			t.Errorf("lodash severity %s, want HIGH (7.5)", f.Severity)
		}
	}
}

// writeTree writes files (path under root -> content) as a root file
// system.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, d := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
