package vulndb

import (
	"net/http"
	"testing"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/proto"
)

// FuzzContentRange: no header a server sends makes the resume check panic,
// and an accepted range starts inside the object.
func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes 0-0/1", "bytes */200", "bytes -5/10", "bytes 5-4/3", "items 0-1/2", "bytes 9223372036854775807-1/9223372036854775807", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, total, ok := parseContentRange(s)
		if ok && (start < 0 || total < start) {
			t.Fatalf("accepted %q as start %d of %d", s, start, total)
		}
		h := http.Header{}
		h.Set("X-Goog-Hash", s)
		googHashes(h)
	})
}

// FuzzStubs: a damaged severity entry (a database from an untrusted
// mirror) decodes to fewer stubs, never a panic; what encodeStubs writes
// decodes back.
func FuzzStubs(f *testing.F) {
	one, _ := proto.Marshal(&osvpb.Vulnerability{Id: "GHSA-1", Aliases: []string{"CVE-1"}, Severity: []*osvpb.Severity{{Type: osvpb.Severity_CVSS_V3, Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}}})
	f.Add(encodeStubs([][]byte{one, one}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{5, 1, 2})
	f.Fuzz(func(t *testing.T, raw []byte) {
		stubs := decodeStubs(raw)
		var enc [][]byte
		for _, s := range stubs {
			b, err := proto.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			enc = append(enc, b)
		}
		again := decodeStubs(encodeStubs(enc))
		if len(again) > len(stubs) {
			t.Fatalf("re-encoding %d stubs gave %d", len(stubs), len(again))
		}
	})
}
