package vulndb

import (
	"strings"
	"testing"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name, in, err string
		keys          []string
	}{
		{name: "go", in: `{"id":"GO-2022-1059","aliases":["CVE-2022-32149"],"affected":[{"package":{"name":"golang.org/x/text","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.3.8"}]}]}]}`, keys: []string{"Go\x00golang.org/x/text"}},
		{name: "debian suffix", in: `{"id":"DSA-1-1","affected":[{"package":{"name":"glibc","ecosystem":"Debian:12"}},{"package":{"name":"glibc","ecosystem":"Debian:11"}}]}`, keys: []string{"Debian\x00glibc"}},
		{name: "pypi normalized", in: `{"id":"PYSEC-1","affected":[{"package":{"name":"Django_Rest.Framework","ecosystem":"PyPI"}}]}`, keys: []string{"PyPI\x00django-rest-framework"}},
		{name: "unknown fields kept out", in: `{"id":"X-1","future_field":{"a":1}}`},
		{name: "no id", in: `{"summary":"x"}`, err: "no id"},
		{name: "bad id", in: `{"id":"A B"}`, err: "non-printable"},
		{name: "bad alias", in: `{"id":"A","aliases":["\u0000"]}`, err: "alias"},
		{name: "not json", in: `{`, err: "decoding"},
		{name: "wrong type", in: `{"id":5}`, err: "decoding"},
		{name: "too big", in: `{"id":"` + strings.Repeat("a", MaxRecordSize) + `"}`, err: "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseRecord([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(indexKeys(v), ","); got != strings.Join(tc.keys, ",") {
				t.Errorf("keys %q, want %q", got, tc.keys)
			}
		})
	}
}

// FuzzParseRecord: no input makes the OSV parser or indexer panic, and an
// accepted record always has a printable id.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		`{"id":"GO-2022-1059","modified":"2023-01-01T00:00:00Z","aliases":["CVE-2022-32149"],"affected":[{"package":{"name":"golang.org/x/text","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.3.8"}]}],"ecosystem_specific":{"imports":[{"path":"golang.org/x/text/language"}]}}]}`,
		`{"id":"DSA-1-1","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"name":"glibc","ecosystem":"Debian:12"},"versions":["1"]}]}`,
		`{"id":"x","affected":[{"package":{}}]}`, `{}`, `[]`, `null`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseRecord(data)
		if err != nil {
			return
		}
		if checkID(v.GetId()) != nil {
			t.Fatalf("accepted bad id %q", v.GetId())
		}
		_ = indexKeys(v)
	})
}
