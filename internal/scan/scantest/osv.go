package scantest

import (
	"archive/zip"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The exports below have the shape osv.dev's exporter gives
// <base>/<Ecosystem>/all.zip (google/osv.dev go/cmd/exporter): one compact
// protojson record per entry named <ID>.json at the zip's root, sorted by
// id, deflated, each entry dated with its record's "modified". The Go
// export holds the Go vulnerability database's real records, with the
// GitHub advisories they alias as osv.dev publishes them beside (GHSA-
// records carrying a CVSS vector); Debian and npm exports cannot be had
// offline, so their records are generated here in osv.dev's shapes: DSA-
// records naming their DEBIAN-CVE- records and CVEs as upstream,
// DEBIAN-CVE- records carrying NVD's vector, npm GHSA- and MAL- records.

// KnownVectors are CVSS vectors with the base scores NVD and GitHub publish
// for them; generated records use only these, so a test can check a
// finding's score against the record it came from without computing one.
var KnownVectors = map[string]float64{
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H":                    9.8,
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H":                    7.5,
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N":                    6.1,
	"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N":                    5.5,
	"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N":                    3.1,
	"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N": 8.7,
}

var vectorList = func() []string {
	out := make([]string, 0, len(KnownVectors))
	for v := range KnownVectors {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}()

// vectorFor picks a vector for id, the same one every time.
func vectorFor(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return vectorList[int(h.Sum32())%len(vectorList)]
}

// ratingOf is GitHub's database_specific.severity for a score.
func ratingOf(score float64) string {
	switch {
	case score >= 9:
		return "CRITICAL"
	case score >= 7:
		return "HIGH"
	case score >= 4:
		return "MODERATE"
	}
	return "LOW"
}

func severityOf(vector string) []*osvpb.Severity {
	t := osvpb.Severity_CVSS_V3
	if strings.HasPrefix(vector, "CVSS:4.0/") {
		t = osvpb.Severity_CVSS_V4
	}
	return []*osvpb.Severity{{Type: t, Score: vector}}
}

// ExportZip zips records as osv.dev's exporter does.
func ExportZip(records []*osvpb.Vulnerability) ([]byte, error) {
	sorted := slices.Clone(records)
	slices.SortFunc(sorted, func(a, b *osvpb.Vulnerability) int { return cmp.Compare(a.GetId(), b.GetId()) })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, v := range sorted {
		raw, err := protojson.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", v.GetId(), err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return nil, err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: v.GetId() + ".json", Modified: v.GetModified().AsTime(), Method: zip.Deflate})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(compact.Bytes()); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GoExport is osv.dev's Go export made of the Go vulnerability database in
// dir (GoVulnDB) and, for every GHSA- alias of its records, GitHub's
// advisory as osv.dev carries it: same packages and ranges, the CVE
// aliases, a CVSS vector and GitHub's rating.
func GoExport(dir string) ([]*osvpb.Vulnerability, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	modified := timestamppb.New(time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC))
	var out []*osvpb.Vulnerability
	ghsa := map[string]bool{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		v := &osvpb.Vulnerability{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, v); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		// osv.dev dates the records it imports; the repository leaves them 0.
		if v.GetModified().AsTime().Year() < 1971 {
			v.Modified = modified
		}
		out = append(out, v)
		var cves []string
		for _, a := range v.GetAliases() {
			if strings.HasPrefix(a, "CVE-") {
				cves = append(cves, a)
			}
		}
		for _, a := range v.GetAliases() {
			if !strings.HasPrefix(a, "GHSA-") || ghsa[a] {
				continue
			}
			ghsa[a] = true
			vec := vectorFor(a)
			g := &osvpb.Vulnerability{
				SchemaVersion: "1.7.3", Id: a, Modified: v.GetModified(), Published: v.GetPublished(),
				Aliases: cves, Related: []string{v.GetId()}, Summary: v.GetSummary(), Details: v.GetDetails(),
				Severity: severityOf(vec),
				DatabaseSpecific: &structpb.Struct{Fields: map[string]*structpb.Value{
					"github_reviewed": structpb.NewBoolValue(true),
					"severity":        structpb.NewStringValue(ratingOf(KnownVectors[vec])),
					"cwe_ids":         structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("CWE-400")}}),
				}},
				References: []*osvpb.Reference{{Type: osvpb.Reference_ADVISORY, Url: "https://github.com/advisories/" + a}},
			}
			for _, af := range v.GetAffected() {
				g.Affected = append(g.Affected, &osvpb.Affected{Package: af.GetPackage(), Ranges: af.GetRanges()})
			}
			out = append(out, g)
		}
	}
	return out, nil
}

// SourcePackage is a Debian source package and the version installed.
type SourcePackage struct{ Name, Version string }

// DebianExport generates osv.dev's Debian records for pkgs, in Debian 12:
// per package a DEBIAN-CVE- record (upstream its CVE; NVD's vector for
// nine in ten; fixed after the installed version for every other package, so
// half of them affect it), a DSA- for every third package naming its
// DEBIAN-CVE- and CVE as upstream, and extra records about packages that
// are not installed, as a real export is mostly.
func DebianExport(pkgs []SourcePackage, extra int) []*osvpb.Vulnerability {
	modified := timestamppb.New(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	var out []*osvpb.Vulnerability
	rec := func(i int, name, fixed string) *osvpb.Vulnerability {
		cve := fmt.Sprintf("CVE-2099-%05d", i)
		v := &osvpb.Vulnerability{
			SchemaVersion: "1.7.3", Id: "DEBIAN-" + cve, Modified: modified, Published: modified, Upstream: []string{cve},
			Details: "In " + name + " before " + fixed + ", a crafted input can crash the service (synthetic record).",
			Affected: []*osvpb.Affected{{
				Package:           &osvpb.Package{Ecosystem: "Debian:12", Name: name, Purl: "pkg:deb/debian/" + name + "?arch=source"},
				Ranges:            []*osvpb.Range{{Type: osvpb.Range_ECOSYSTEM, Events: []*osvpb.Event{{Introduced: "0"}, {Fixed: fixed}}}},
				EcosystemSpecific: &structpb.Struct{Fields: map[string]*structpb.Value{"urgency": structpb.NewStringValue("not yet assigned")}},
			}},
			References: []*osvpb.Reference{{Type: osvpb.Reference_ADVISORY, Url: "https://security-tracker.debian.org/tracker/" + cve}},
		}
		if i%10 != 9 { // NVD has not scored every CVE
			v.Severity = severityOf(vectorFor(cve))
		}
		return v
	}
	for i, p := range pkgs {
		fixed := p.Version + "+zz1" // after the installed version
		if i%2 == 1 {
			fixed = p.Version + "~aa1" // before it: fixed already
		}
		d := rec(i, p.Name, fixed)
		out = append(out, d)
		if i%3 == 0 {
			out = append(out, &osvpb.Vulnerability{
				SchemaVersion: "1.7.3", Id: fmt.Sprintf("DSA-%d-1", 6000+i), Modified: modified, Published: modified,
				Upstream: []string{d.GetUpstream()[0], d.GetId()}, Summary: p.Name + " - security update",
				Affected: []*osvpb.Affected{{
					Package: &osvpb.Package{Ecosystem: "Debian:12", Name: p.Name},
					Ranges:  []*osvpb.Range{{Type: osvpb.Range_ECOSYSTEM, Events: []*osvpb.Event{{Introduced: "0"}, {Fixed: fixed}}}},
				}},
			})
		}
	}
	for i := 0; i < extra; i++ {
		out = append(out, rec(len(pkgs)+i, fmt.Sprintf("notinstalled%d", i%5000), "1.0-1"))
	}
	return out
}

// NPMExport generates osv.dev's npm records for the packages (name ->
// installed version): a GHSA- advisory each, every other one affecting the
// installed version, and extra MAL- records (OpenSSF's malicious-package
// reports, most of the real npm export) about packages not installed.
func NPMExport(pkgs map[string]string, extra int) []*osvpb.Vulnerability {
	modified := timestamppb.New(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	var out []*osvpb.Vulnerability
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range pkgs {
			if !yield(n) {
				return
			}
		}
	})
	for i, n := range names {
		id := ghsaID(n)
		introduced, fixed := "0", nextPatch(pkgs[n])
		if i%2 == 1 {
			introduced, fixed = "999.0.0", "999.0.1"
		}
		vec := vectorFor(id)
		out = append(out, &osvpb.Vulnerability{
			SchemaVersion: "1.7.3", Id: id, Modified: modified, Published: modified, Aliases: []string{fmt.Sprintf("CVE-2098-%05d", i)},
			Summary:  "Prototype pollution in " + n + " (synthetic record)",
			Severity: severityOf(vec),
			Affected: []*osvpb.Affected{{
				Package: &osvpb.Package{Ecosystem: "npm", Name: n, Purl: "pkg:npm/" + n},
				Ranges:  []*osvpb.Range{{Type: osvpb.Range_SEMVER, Events: []*osvpb.Event{{Introduced: introduced}, {Fixed: fixed}}}},
			}},
			DatabaseSpecific: &structpb.Struct{Fields: map[string]*structpb.Value{
				"github_reviewed": structpb.NewBoolValue(true), "severity": structpb.NewStringValue(ratingOf(KnownVectors[vec])),
			}},
		})
	}
	for i := 0; i < extra; i++ {
		n := fmt.Sprintf("typosquat-%d", i)
		out = append(out, &osvpb.Vulnerability{
			SchemaVersion: "1.7.3", Id: fmt.Sprintf("MAL-2099-%d", i), Modified: modified, Published: modified,
			Summary: "Malicious code in " + n + " (npm)",
			Details: "\n---\n_-= Per source details. Do not edit below this line.=-_\n\n## Source: ossf-package-analysis\nThe package exfiltrates environment variables on install.\n",
			Affected: []*osvpb.Affected{{
				Package:  &osvpb.Package{Ecosystem: "npm", Name: n},
				Ranges:   []*osvpb.Range{{Type: osvpb.Range_SEMVER, Events: []*osvpb.Event{{Introduced: "0"}}}},
				Versions: []string{"1.0.0", "1.0.1"},
			}},
			DatabaseSpecific: &structpb.Struct{Fields: map[string]*structpb.Value{"malicious-packages-origins": structpb.NewListValue(&structpb.ListValue{})}},
		})
	}
	return out
}

// nextPatch is the patch release after semver version v.
func nextPatch(v string) string {
	core, _, _ := strings.Cut(v, "-")
	var major, minor, patch int
	if n, _ := fmt.Sscanf(core, "%d.%d.%d", &major, &minor, &patch); n != 3 {
		return core + ".1"
	}
	return fmt.Sprintf("%d.%d.%d", major, minor, patch+1)
}

func ghsaID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	h := hex.EncodeToString(sum[:])
	const alphabet = "23456789cfghjmpqrvwx"
	var b strings.Builder
	b.WriteString("GHSA-")
	for i := 0; i < 12; i++ {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[int(h[i])%len(alphabet)])
	}
	return b.String()
}

// GITExport generates the CVE records osv.dev publishes in its GIT export
// (NVD's and the CNAs' data converted, affected commit ranges, the CVE's
// own score) for the CVEs that records names without carrying a score of
// their own or through a GHSA alias: the Go standard library's advisories
// and the DEBIAN-CVE- records NVD had not scored. The vectors are
// generated; the shape is osv.dev's.
func GITExport(records []*osvpb.Vulnerability) []*osvpb.Vulnerability {
	modified := timestamppb.New(time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC))
	seen := map[string]bool{}
	var out []*osvpb.Vulnerability
	for _, v := range records {
		if len(v.GetSeverity()) > 0 {
			continue
		}
		ghsa := false
		for _, a := range v.GetAliases() {
			ghsa = ghsa || strings.HasPrefix(a, "GHSA-")
		}
		if ghsa {
			continue
		}
		repo := "https://go.googlesource.com/go"
		if strings.HasPrefix(v.GetId(), "DEBIAN-") {
			repo = "https://example.invalid/upstream/" + v.GetAffected()[0].GetPackage().GetName()
		}
		for _, id := range append(slices.Clone(v.GetAliases()), v.GetUpstream()...) {
			if !strings.HasPrefix(id, "CVE-") || seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, &osvpb.Vulnerability{
				SchemaVersion: "1.7.3", Id: id, Modified: modified, Published: modified,
				Details:          "A vulnerability (synthetic CVE record in osv.dev's GIT-export shape).",
				Severity:         severityOf(vectorFor(id)),
				Affected:         []*osvpb.Affected{{Ranges: []*osvpb.Range{{Type: osvpb.Range_GIT, Repo: repo, Events: []*osvpb.Event{{Introduced: "0"}, {Fixed: commitOf(id)}}}}}},
				References:       []*osvpb.Reference{{Type: osvpb.Reference_ADVISORY, Url: "https://nvd.nist.gov/vuln/detail/" + id}},
				DatabaseSpecific: &structpb.Struct{Fields: map[string]*structpb.Value{"cna_assigner": structpb.NewStringValue("Go")}},
			})
		}
	}
	return out
}

// commitOf is a commit hash made up for id.
func commitOf(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:20])
}
