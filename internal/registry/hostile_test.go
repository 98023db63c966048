package registry

import (
	"bytes"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileRequests sends path tricks, oversized and malformed bodies and
// wrong digests, then checks that every answer is a spec error (never a 5xx)
// and that nothing was written outside the storage layout.
func TestHostileRequests(t *testing.T) {
	tr := newTestRegistry(t, Options{MaxBlobSize: 1 << 20})
	outside := filepath.Join(filepath.Dir(tr.drv.Root()), "escaped")
	d := sha256Of([]byte("x"))
	big := bytes.Repeat([]byte("z"), 2<<20)
	tests := []struct {
		method, path string
		body         []byte
		hdr          []string
		want         int // 0: any 4xx with a spec error
	}{
		{"GET", "/v2/../../escaped/blobs/" + d, nil, nil, 0},
		{"GET", "/v2/%2e%2e/%2e%2e/escaped/tags/list", nil, nil, 0},
		{"PUT", "/v2/a/..%2f..%2fescaped/manifests/latest", []byte("{}"), nil, 0},
		{"POST", "/v2/a/blobs/uploads/?mount=" + d + "&from=../../escaped", nil, nil, http.StatusAccepted}, // falls back to an upload
		{"PUT", "/v2/a/blobs/uploads/..%2f..%2fescaped?digest=" + d, []byte("x"), nil, 0},
		{"PATCH", "/v2/a/blobs/uploads/../../../escaped", []byte("x"), nil, 0},
		{"GET", "/v2/a/blobs/sha256:..%2f..%2f..%2fescaped", nil, nil, 0},
		{"GET", "/v2/a/blobs/sha256:" + strings.Repeat("../", 21) + "x", nil, nil, 0},
		{"PUT", "/v2/a/manifests/sha256:" + strings.Repeat("0", 64), []byte("{}"), nil, 0},
		{"PUT", "/v2/a/manifests/..", []byte("{}"), nil, 0},
		{"PUT", "/v2/" + strings.Repeat("a/", 200) + "b/manifests/t", []byte("{}"), nil, 0},
		{"POST", "/v2/a/blobs/uploads/?digest=" + d, big, nil, 0},
		{"POST", "/v2/a/blobs/uploads/?digest=sha256:zz", []byte("x"), nil, 0},
		{"POST", "/v2/a/blobs/uploads/?digest=" + d, []byte("not x"), nil, 0},
		{"PUT", "/v2/a/manifests/t", []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIManifest + `","config":{"digest":"sha256:../../x"}}`), []string{"Content-Type: " + mtOCIManifest}, 0},
		{"PUT", "/v2/a/manifests/t", bytes.Repeat([]byte("["), 1<<20), []string{"Content-Type: " + mtOCIManifest}, 0},
		{"GET", "/v2/a/referrers/sha256:../../x", nil, nil, 0},
		{"GET", "/v2/a/tags/list?n=99999999999999999999", nil, nil, 0},
		{"DELETE", "/v2/_catalog", nil, nil, 0},
		{"GET", "/v2/a/blobs/uploads/", nil, nil, 0},
		{"GET", "/v2/a/blobs/uploads/" + strings.Repeat("f", 32), nil, []string{"Range: bytes=0-"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path[:min(len(tc.path), 60)], func(t *testing.T) {
			r := tr.do(tc.method, tc.path, tc.body, tc.hdr...)
			if tc.want != 0 {
				if r.code != tc.want {
					t.Fatalf("status %d, want %d", r.code, tc.want)
				}
				return
			}
			if r.code >= 500 || r.code < 400 {
				t.Fatalf("status %d: %s", r.code, r.body)
			}
			if r.code != http.StatusMethodNotAllowed && r.code != http.StatusRequestedRangeNotSatisfiable && r.errCode() == "" && r.code != 404 {
				t.Errorf("no spec error code: %d %s", r.code, r.body)
			}
		})
	}
	if _, err := os.Stat(outside); err == nil {
		t.Fatal("a request wrote outside the storage root")
	}
	filepath.WalkDir(tr.drv.Root(), func(p string, de fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(tr.drv.Root(), p)
		if rel == "." {
			return nil
		}
		top := strings.Split(rel, string(filepath.Separator))[0]
		switch top {
		case "blobs", "repositories", "uploads", "repositories.json", ".locks":
		default:
			t.Errorf("unexpected object %s", rel)
		}
		return nil
	})
}
