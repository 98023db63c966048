package registry

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestPing(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	for _, p := range []string{"/v2/", "/v2"} {
		r := tr.do("GET", p, nil)
		if r.code != 200 || r.h.Get("Docker-Distribution-Api-Version") != "registry/2.0" {
			t.Errorf("%s: %d %v", p, r.code, r.h)
		}
	}
	if r := tr.do("GET", "/healthz", nil); r.code != 200 {
		t.Errorf("health: %d", r.code)
	}
}

func TestBlobUploadPaths(t *testing.T) {
	data := bytes.Repeat([]byte("berth-blob-"), 500) // 5.5 kB
	d := sha256Of(data)
	tests := []struct {
		name string
		push func(tr *testRegistry) resp
	}{
		{"single POST with digest", func(tr *testRegistry) resp {
			return tr.do("POST", "/v2/a/b/blobs/uploads/?digest="+d, data)
		}},
		{"POST then monolithic PUT", func(tr *testRegistry) resp {
			r := tr.do("POST", "/v2/a/b/blobs/uploads/", nil)
			return tr.do("PUT", r.h.Get("Location")+"?digest="+d, data)
		}},
		{"streamed PATCH then PUT", func(tr *testRegistry) resp {
			r := tr.do("POST", "/v2/a/b/blobs/uploads/", nil)
			r = tr.do("PATCH", r.h.Get("Location"), data)
			return tr.do("PUT", r.h.Get("Location")+"?digest="+d, nil)
		}},
		{"three chunks with Content-Range, last in PUT", func(tr *testRegistry) resp {
			r := tr.do("POST", "/v2/a/b/blobs/uploads/", nil)
			loc := r.h.Get("Location")
			for _, c := range [][2]int{{0, 2000}, {2000, 4000}} {
				r = tr.do("PATCH", loc, data[c[0]:c[1]], fmt.Sprintf("Content-Range: %d-%d", c[0], c[1]-1))
				if r.code != 202 || r.h.Get("Range") != fmt.Sprintf("0-%d", c[1]-1) {
					t.Fatalf("chunk %v: %d %q", c, r.code, r.h.Get("Range"))
				}
				loc = r.h.Get("Location")
			}
			return tr.do("PUT", loc+"?digest="+d, data[4000:], fmt.Sprintf("Content-Range: 4000-%d", len(data)-1))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestRegistry(t, Options{})
			r := tc.push(tr)
			if r.code != http.StatusCreated || r.h.Get("Docker-Content-Digest") != d || r.h.Get("Location") != "/v2/a/b/blobs/"+d {
				t.Fatalf("push: %d %v %s", r.code, r.h, r.body)
			}
			g := tr.do("GET", "/v2/a/b/blobs/"+d, nil)
			if g.code != 200 || !bytes.Equal(g.body, data) || g.h.Get("Docker-Content-Digest") != d {
				t.Fatalf("get: %d len %d", g.code, len(g.body))
			}
		})
	}
}

func TestBlobGetHeadRangeDelete(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	data := []byte("0123456789abcdefghij")
	d := tr.pushBlob("r", data)
	tests := []struct {
		name, method, path string
		hdr                []string
		code               int
		body               string
		errCode            string
	}{
		{"head", "HEAD", "/v2/r/blobs/" + d, nil, 200, "", ""},
		{"range", "GET", "/v2/r/blobs/" + d, []string{"Range: bytes=5-9"}, 206, "56789", ""},
		{"suffix range", "GET", "/v2/r/blobs/" + d, []string{"Range: bytes=-3"}, 206, "hij", ""},
		{"unsatisfiable range", "GET", "/v2/r/blobs/" + d, []string{"Range: bytes=100-200"}, 416, "", ""},
		{"other repo", "GET", "/v2/other/blobs/" + d, nil, 404, "", "BLOB_UNKNOWN"},
		{"unknown blob", "GET", "/v2/r/blobs/" + sha256Of([]byte("nope")), nil, 404, "", "BLOB_UNKNOWN"},
		{"bad digest", "GET", "/v2/r/blobs/sha256:xyz", nil, 400, "", "DIGEST_INVALID"},
		{"unsupported algorithm", "GET", "/v2/r/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", nil, 400, "", "DIGEST_INVALID"},
		{"bad name", "GET", "/v2/Upper/blobs/" + d, nil, 400, "", "NAME_INVALID"},
		{"dot-dot name", "GET", "/v2/../../etc/blobs/" + d, nil, 400, "", "NAME_INVALID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tr.do(tc.method, tc.path, nil, tc.hdr...)
			if r.code != tc.code {
				t.Fatalf("status %d, want %d: %s", r.code, tc.code, r.body)
			}
			if tc.body != "" && string(r.body) != tc.body {
				t.Errorf("body %q, want %q", r.body, tc.body)
			}
			if tc.errCode != "" && r.errCode() != tc.errCode {
				t.Errorf("error code %q, want %q", r.errCode(), tc.errCode)
			}
			if tc.method == "HEAD" && r.h.Get("Content-Length") != fmt.Sprint(len(data)) {
				t.Errorf("HEAD Content-Length %q", r.h.Get("Content-Length"))
			}
		})
	}
	if r := tr.do("DELETE", "/v2/r/blobs/"+d, nil); r.code != 202 {
		t.Fatalf("delete: %d", r.code)
	}
	if r := tr.do("HEAD", "/v2/r/blobs/"+d, nil); r.code != 404 {
		t.Fatalf("after delete: %d", r.code)
	}
	if r := tr.do("DELETE", "/v2/r/blobs/"+d, nil); r.errCode() != "BLOB_UNKNOWN" {
		t.Fatalf("second delete: %d %s", r.code, r.body)
	}
}

func TestUploadErrors(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 3000)
	d := sha256Of(data)
	t.Run("out of order chunk gets 416 and status resumes", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		loc := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		r := tr.do("PATCH", loc, data[:1000], "Content-Range: 0-999")
		loc = r.h.Get("Location")
		r = tr.do("PATCH", loc, data[2000:], "Content-Range: 2000-2999")
		if r.code != 416 || r.h.Get("Range") != "0-999" {
			t.Fatalf("out of order: %d %q", r.code, r.h.Get("Range"))
		}
		st := tr.do("GET", loc, nil)
		if st.code != 204 || st.h.Get("Range") != "0-999" || st.h.Get("Docker-Upload-UUID") == "" {
			t.Fatalf("status: %d %v", st.code, st.h)
		}
		r = tr.do("PATCH", loc, data[1000:], "Content-Range: 1000-2999")
		if r.code != 202 {
			t.Fatalf("resume: %d", r.code)
		}
		if r := tr.do("PUT", loc+"?digest="+d, nil); r.code != 201 {
			t.Fatalf("finish: %d %s", r.code, r.body)
		}
	})
	t.Run("wrong digest", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		r := tr.do("POST", "/v2/r/blobs/uploads/?digest="+sha256Of([]byte("other")), data)
		if r.code != 400 || r.errCode() != "DIGEST_INVALID" {
			t.Fatalf("%d %s", r.code, r.body)
		}
		if r := tr.do("HEAD", "/v2/r/blobs/"+sha256Of([]byte("other")), nil); r.code != 404 {
			t.Fatalf("wrong content stored: %d", r.code)
		}
	})
	t.Run("wrong digest after one streamed chunk", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		loc := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		loc = tr.do("PATCH", loc, data).h.Get("Location")
		wrong := sha256Of([]byte("other"))
		if r := tr.do("PUT", loc+"?digest="+wrong, nil); r.code != 400 || r.errCode() != "DIGEST_INVALID" {
			t.Fatalf("%d %s", r.code, r.body)
		}
		for _, dg := range []string{wrong, d} {
			if r := tr.do("HEAD", "/v2/r/blobs/"+dg, nil); r.code != 404 {
				t.Fatalf("%s stored: %d", dg, r.code)
			}
		}
	})
	t.Run("missing digest on PUT", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		loc := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		if r := tr.do("PUT", loc, data); r.code != 400 || r.errCode() != "DIGEST_INVALID" {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("racing chunks at one offset never mix", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		for round := range 10 {
			loc := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
			bodies := [][]byte{bytes.Repeat([]byte{'a' + byte(round)}, 4096), bytes.Repeat([]byte{'A' + byte(round)}, 4096)}
			codes := make([]int, 2)
			var wg sync.WaitGroup
			for i := range bodies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i] = tr.do("PATCH", loc, bodies[i], "Content-Range: 0-4095").code
				}()
			}
			wg.Wait()
			winner := -1
			for i, c := range codes {
				if c == 202 {
					if winner >= 0 {
						t.Fatalf("both chunks accepted at offset 0: %v", codes)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatalf("no chunk accepted: %v", codes)
			}
			want := sha256Of(bodies[winner])
			if r := tr.do("PUT", loc+"?digest="+want, nil); r.code != 201 {
				t.Fatalf("finish with the winner's digest: %d %s", r.code, r.body)
			}
			if g := tr.do("GET", "/v2/r/blobs/"+want, nil); !bytes.Equal(g.body, bodies[winner]) {
				t.Fatalf("stored bytes are not the winner's")
			}
		}
	})
	t.Run("cancel", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		loc := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		tr.do("PATCH", loc, data)
		if r := tr.do("DELETE", loc, nil); r.code != 204 {
			t.Fatalf("cancel: %d", r.code)
		}
		if r := tr.do("GET", loc, nil); r.code != 404 || r.errCode() != "BLOB_UPLOAD_UNKNOWN" {
			t.Fatalf("after cancel: %d %s", r.code, r.body)
		}
	})
	t.Run("unknown and malformed session ids", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		for _, id := range []string{"0123456789abcdef0123456789abcdef", "..", "x", strings.Repeat("A", 32)} {
			if r := tr.do("GET", "/v2/r/blobs/uploads/"+id, nil); r.code != 404 {
				t.Errorf("%s: %d", id, r.code)
			}
		}
	})
	t.Run("session belongs to its repository", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		loc := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		id := loc[strings.LastIndexByte(loc, '/')+1:]
		if r := tr.do("PATCH", "/v2/other/blobs/uploads/"+id, data); r.code != 404 {
			t.Fatalf("%d", r.code)
		}
	})
	t.Run("blob size limit", func(t *testing.T) {
		tr := newTestRegistry(t, Options{MaxBlobSize: 1000})
		if r := tr.do("POST", "/v2/r/blobs/uploads/?digest="+d, data); r.code != 413 {
			t.Fatalf("single POST: %d %s", r.code, r.body)
		}
		loc := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		if r := tr.do("PATCH", loc, data); r.code != 413 {
			t.Fatalf("PATCH: %d %s", r.code, r.body)
		}
		if r := tr.do("GET", loc, nil); r.h.Get("Range") != "0-0" {
			t.Fatalf("oversized chunk recorded: %q", r.h.Get("Range"))
		}
	})
	t.Run("sha512", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		d512 := sha512Of(data)
		loc := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		if r := tr.do("PUT", loc+"?digest="+d512, data); r.code != 201 || r.h.Get("Docker-Content-Digest") != d512 {
			t.Fatalf("%d %s", r.code, r.body)
		}
		if r := tr.do("GET", "/v2/r/blobs/"+d512, nil); r.code != 200 || !bytes.Equal(r.body, data) {
			t.Fatalf("get: %d", r.code)
		}
	})
}

func TestMount(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	data := []byte("shared layer")
	d := tr.pushBlob("src", data)
	tests := []struct {
		name, query string
		code        int
	}{
		{"from source", "?mount=" + d + "&from=src", 201},
		{"anonymous", "?mount=" + d, 201},
		{"source lacks it", "?mount=" + d + "&from=empty", 202},
		{"unknown blob", "?mount=" + sha256Of([]byte("x")) + "&from=src", 202},
		{"invalid source name", "?mount=" + d + "&from=../src", 202},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := fmt.Sprintf("dst%d", i)
			r := tr.do("POST", "/v2/"+dst+"/blobs/uploads/"+tc.query, nil)
			if r.code != tc.code {
				t.Fatalf("%d %s", r.code, r.body)
			}
			want := 200
			if tc.code == 202 {
				want = 404
				if !strings.Contains(r.h.Get("Location"), "/blobs/uploads/") {
					t.Errorf("fallback location %q", r.h.Get("Location"))
				}
			}
			if g := tr.do("HEAD", "/v2/"+dst+"/blobs/"+d, nil); g.code != want {
				t.Errorf("head after mount: %d, want %d", g.code, want)
			}
		})
	}
}
