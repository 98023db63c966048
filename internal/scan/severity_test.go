package scan

import (
	"testing"

	"github.com/berth-dev/berth/internal/scan/vulndb"
)

// TestRecordSeverity checks base scores against the scores NVD and GitHub
// publish for the same vectors (CVE-2021-44228's 10.0, CVE-2022-32149's 7.5,
// the CVSS v4.0 specification's examples, NVD's v2 bands), so the scores
// come from the library, and the library agrees with the published ones.
func TestRecordSeverity(t *testing.T) {
	tests := []struct {
		name, rec string
		rating    string
		score     float64
		vector    string
	}{
		{name: "v3.1 critical (log4shell)", rec: `{"id":"CVE-2021-44228","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}]}`,
			rating: "CRITICAL", score: 10, vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"},
		{name: "v3.1 high (x/text)", rec: `{"id":"GHSA-69ch-w2m2-3vjp","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}`,
			rating: "HIGH", score: 7.5, vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
		{name: "v3.1 medium (reflected XSS)", rec: `{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}]}`,
			rating: "MEDIUM", score: 6.1, vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"},
		{name: "v3.1 low", rec: `{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N"}]}`,
			rating: "LOW", score: 3.1, vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N"},
		{name: "v3.0", rec: `{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`,
			rating: "CRITICAL", score: 9.8, vector: "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		{name: "v4.0 critical", rec: `{"id":"A","severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}`,
			rating: "CRITICAL", score: 9.3, vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
		{name: "v4.0 beats v3.1 in one record", rec: `{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},{"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N"}]}`,
			rating: "HIGH", score: 8.7, vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N"},
		{name: "v2 has no CRITICAL", rec: `{"id":"CVE-2008-1","severity":[{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:C/I:C/A:C"}]}`,
			rating: "HIGH", score: 10, vector: "AV:N/AC:L/Au:N/C:C/I:C/A:C"},
		{name: "v2 medium", rec: `{"id":"CVE-2008-2","severity":[{"type":"CVSS_V2","score":"AV:N/AC:M/Au:N/C:N/I:P/A:N"}]}`,
			rating: "MEDIUM", score: 4.3, vector: "AV:N/AC:M/Au:N/C:N/I:P/A:N"},
		{name: "per affected package", rec: `{"id":"A","affected":[{"package":{"ecosystem":"npm","name":"x"},"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}]}`,
			rating: "HIGH", score: 7.5, vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
		{name: "type left out, vector prefix says v3", rec: `{"id":"A","severity":[{"score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}`,
			rating: "HIGH", score: 7.5, vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
		{name: "ubuntu priority", rec: `{"id":"UBUNTU-CVE-2024-1","severity":[{"type":"Ubuntu","score":"medium"}]}`, rating: "MEDIUM"},
		{name: "github rating without vector", rec: `{"id":"GHSA-xxxx-yyyy-zzzz","database_specific":{"severity":"MODERATE"}}`, rating: "MEDIUM"},
		{name: "vector beats the github rating", rec: `{"id":"GHSA-xxxx-yyyy-zzzz","database_specific":{"severity":"LOW"},"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}`,
			rating: "HIGH", score: 7.5, vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
		{name: "malformed vector", rec: `{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:X"}]}`},
		{name: "nothing", rec: `{"id":"GO-2022-1059"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := vulndb.ParseRecord([]byte(tc.rec))
			if err != nil {
				t.Fatal(err)
			}
			s := recordSeverity(v)
			if tc.rating == "" {
				if s.known() {
					t.Fatalf("got %+v, want none", s)
				}
				return
			}
			if s.rating != tc.rating || s.score != tc.score || s.vector != tc.vector || s.from != v.GetId() {
				t.Errorf("got %+v, want %s %.1f %s from %s", s, tc.rating, tc.score, tc.vector, v.GetId())
			}
		})
	}
}
