package scan

import (
	"strings"
	"testing"
	"time"
)

func TestParseIgnore(t *testing.T) {
	tests := []struct {
		name, in, err string
		want          []IgnoreEntry
	}{
		{name: "plain", in: "CVE-2022-32149\n\n# comment\nGO-2022-0956 # trailing\n", want: []IgnoreEntry{{ID: "CVE-2022-32149", Line: 1}, {ID: "GO-2022-0956", Line: 4}}},
		{name: "expiry", in: "CVE-1 exp:2026-01-31\n", want: []IgnoreEntry{{ID: "CVE-1", Line: 1, Expires: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)}}},
		{name: "crlf", in: "CVE-1\r\nCVE-2\r\n", want: []IgnoreEntry{{ID: "CVE-1", Line: 1}, {ID: "CVE-2", Line: 2}}},
		{name: "bad date", in: "CVE-1 exp:2026-13-01\n", err: "bad expiry date"},
		{name: "unknown field", in: "CVE-1 until:2026-01-01\n", err: "unknown field"},
		{name: "long line", in: strings.Repeat("x", maxIgnoreLine+1), err: "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseIgnore(".trivyignore", strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Entries) != len(tc.want) {
				t.Fatalf("entries %+v, want %+v", f.Entries, tc.want)
			}
			for i, e := range f.Entries {
				if e.ID != tc.want[i].ID || e.Line != tc.want[i].Line || !e.Expires.Equal(tc.want[i].Expires) {
					t.Errorf("entry %d: %+v, want %+v", i, e, tc.want[i])
				}
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	fs := []Finding{
		{ID: "GO-2022-1059", Aliases: []string{"CVE-2022-32149"}, Severity: "HIGH", Fixed: "0.3.8"},
		{ID: "GO-2022-0956", Aliases: []string{"CVE-2022-3064"}, Severity: "MEDIUM", Fixed: "2.2.4"},
		{ID: "DEBIAN-CVE-1", Severity: "UNKNOWN"},
	}
	ign, err := ParseIgnore("ign", strings.NewReader("CVE-2022-32149 exp:2030-01-01\nGO-2022-0956 exp:2020-01-01\nCVE-9999-1\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		pol   Policy
		want  []string
		notes int
	}{
		{name: "all", pol: Policy{Now: now}, want: []string{"GO-2022-1059", "GO-2022-0956", "DEBIAN-CVE-1"}},
		{name: "severity", pol: Policy{Now: now, Severities: []string{"high", "CRITICAL"}}, want: []string{"GO-2022-1059"}},
		{name: "unfixed", pol: Policy{Now: now, IgnoreUnfixed: true}, want: []string{"GO-2022-1059", "GO-2022-0956"}},
		{name: "ignore by alias, expired entry and unused entry reported", pol: Policy{Now: now, Ignore: ign}, want: []string{"GO-2022-0956", "DEBIAN-CVE-1"}, notes: 2},
		{name: "expiry day itself still applies", pol: Policy{Now: time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC), Ignore: ign}, want: []string{"GO-2022-0956", "DEBIAN-CVE-1"}, notes: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.pol.Apply(fs)
			var got []string
			for _, f := range res.Findings {
				got = append(got, f.ID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
			if len(res.Notes) != tc.notes {
				t.Errorf("notes %q, want %d", res.Notes, tc.notes)
			}
		})
	}
}

// FuzzParseIgnore: no ignore file makes the parser panic, and every
// accepted entry has an id without control characters.
func FuzzParseIgnore(f *testing.F) {
	for _, s := range []string{"CVE-2022-32149\n", "GO-2022-0956 exp:2026-01-31 # why\n", "# only\n\n", "a exp:", "\x00", "x exp:2026-02-30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ign, err := ParseIgnore("fuzz", strings.NewReader(in))
		if err != nil {
			return
		}
		for _, e := range ign.Entries {
			if e.ID == "" || checkIgnoreID(e.ID) != nil {
				t.Fatalf("accepted bad id %q", e.ID)
			}
		}
		Policy{Ignore: ign}.Apply([]Finding{{ID: "CVE-1", Aliases: []string{"GO-1"}, Severity: "LOW"}})
	})
}

const ignoreYAMLSample = `vulnerabilities:
  - id: CVE-2022-32149
    paths:
      - "usr/local/bin/app*"
    statement: only the app binary, which never parses user locales
  - id: GO-2022-0956
    purls:
      - "pkg:golang/gopkg.in/yaml.v2@2.2.2"
  - id: DEBIAN-CVE-1
    expired_at: 2020-01-01
misconfigurations:
  - id: AVD-DS-0002
`

func TestParseIgnoreYAML(t *testing.T) {
	f, err := ParseIgnoreYAML(".trivyignore.yaml", strings.NewReader(ignoreYAMLSample))
	if err != nil {
		t.Fatal(err)
	}
	want := []IgnoreEntry{
		{ID: "CVE-2022-32149", Line: 2, Paths: []string{"usr/local/bin/app*"}},
		{ID: "GO-2022-0956", Line: 6, PURLs: []string{"pkg:golang/gopkg.in/yaml.v2@2.2.2"}},
		{ID: "DEBIAN-CVE-1", Line: 9, Expires: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	if len(f.Entries) != len(want) {
		t.Fatalf("entries %+v", f.Entries)
	}
	for i, e := range f.Entries {
		w := want[i]
		if e.ID != w.ID || e.Line != w.Line || !e.Expires.Equal(w.Expires) || strings.Join(e.Paths, ",") != strings.Join(w.Paths, ",") || strings.Join(e.PURLs, ",") != strings.Join(w.PURLs, ",") {
			t.Errorf("entry %d: %+v, want %+v", i, e, w)
		}
	}
	for _, tc := range []struct{ in, err string }{
		{"vulnerabilities:\n  - paths: [x]\n", "no id"},
		{"vulnerabilities:\n  - id: X\n    expired_at: soon\n", "bad expired_at"},
		{"vulnerabilities:\n  - id: X\n    paths: ['[']\n", "bad path pattern"},
		{"vulnerabilities: {", "yaml"},
	} {
		if _, err := ParseIgnoreYAML("y", strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
		}
	}

	// Paths and purls narrow an id to some packages.
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	findings := []Finding{
		{ID: "GO-2022-1059", Aliases: []string{"CVE-2022-32149"}, Package: Package{Path: "/usr/local/bin/app", PURL: "pkg:golang/golang.org/x/text@0.3.2"}},
		{ID: "GO-2022-1059", Aliases: []string{"CVE-2022-32149"}, Package: Package{Path: "usr/bin/other", PURL: "pkg:golang/golang.org/x/text@0.3.2"}},
		{ID: "GO-2022-0956", Package: Package{Path: "usr/local/bin/app", PURL: "pkg:golang/gopkg.in/yaml.v2@2.2.2"}},
		{ID: "GO-2022-0956", Package: Package{Path: "usr/local/bin/app", PURL: "pkg:golang/gopkg.in/yaml.v2@2.2.3"}},
		{ID: "DEBIAN-CVE-1", Package: Package{Path: "var/lib/dpkg/status"}},
	}
	res := Policy{Now: now, Ignore: f}.Apply(findings)
	var left []string
	for _, x := range res.Findings {
		left = append(left, x.ID+" "+x.Package.Path+" "+x.Package.PURL)
	}
	wantLeft := []string{
		"GO-2022-1059 usr/bin/other pkg:golang/golang.org/x/text@0.3.2",
		"GO-2022-0956 usr/local/bin/app pkg:golang/gopkg.in/yaml.v2@2.2.3",
		"DEBIAN-CVE-1 var/lib/dpkg/status ",
	}
	if strings.Join(left, "\n") != strings.Join(wantLeft, "\n") {
		t.Fatalf("left:\n%s\nwant:\n%s", strings.Join(left, "\n"), strings.Join(wantLeft, "\n"))
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "expired") {
		t.Fatalf("notes %q", res.Notes)
	}
}

// FuzzParseIgnoreYAML: no .trivyignore.yaml makes the parser panic, and
// every accepted entry has a valid id and path patterns.
func FuzzParseIgnoreYAML(f *testing.F) {
	f.Add(ignoreYAMLSample)
	f.Add("vulnerabilities: [{id: a, paths: ['*']}]")
	f.Fuzz(func(t *testing.T, in string) {
		ign, err := ParseIgnoreYAML("fuzz", strings.NewReader(in))
		if err != nil {
			return
		}
		for _, e := range ign.Entries {
			if e.ID == "" || checkIgnoreID(e.ID) != nil {
				t.Fatalf("accepted bad id %q", e.ID)
			}
		}
		Policy{Ignore: ign}.Apply([]Finding{{ID: "CVE-1", Aliases: []string{"GO-1"}, Package: Package{Path: "a/b"}}})
	})
}
