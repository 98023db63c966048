package registry

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var contentRange = regexp.MustCompile(`^(?:bytes )?([0-9]+)-([0-9]+)(?:/.*)?$`)

// FuzzCheckContentRange is the Content-Range header of an upload chunk
// (PATCH, and PUT with a last chunk), which any client sends. The check
// must not panic, and it may take a chunk only when the header is a range
// that starts where the upload ends and, when the body's length is known,
// spans exactly that many bytes; a refusal always carries the Range the
// client resumes from.
func FuzzCheckContentRange(f *testing.F) {
	for _, s := range []struct {
		h    string
		size int64
		n    int64
	}{
		{"0-999", 0, 1000}, {"bytes 1000-1999/4000", 1000, 1000}, {"1000-999", 1000, 0}, {"5-1", 5, -1},
		{"-1-5", 0, 7}, {"0-9223372036854775807", 0, 1}, {"9223372036854775807-9223372036854775806", 9223372036854775807, 0},
		{"a-b", 0, 0}, {"", 3, 3},
	} {
		f.Add(s.h, s.size, s.n)
	}
	f.Fuzz(func(t *testing.T, h string, size, n int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			size = 0
		}
		r := httptest.NewRequest(http.MethodPatch, "/v2/a/blobs/uploads/id", nil)
		r.Header.Set("Content-Range", h)
		r.ContentLength = n
		w := httptest.NewRecorder()
		st := &uploadState{Size: size}
		err := checkContentRange(w, r, "a", "id", st)
		h = r.Header.Get("Content-Range") // as the server sees it
		if err != nil {
			if w.Header().Get("Range") != rangeHeader(size) {
				t.Fatalf("refusal of %q without the resume Range (got %q)", h, w.Header().Get("Range"))
			}
			return
		}
		if h == "" {
			return
		}
		m := contentRange.FindStringSubmatch(strings.TrimSpace(h))
		if m == nil {
			t.Fatalf("took a chunk with Content-Range %q", h)
		}
		start, err1 := strconv.ParseInt(m[1], 10, 64)
		end, err2 := strconv.ParseInt(m[2], 10, 64)
		if err1 != nil || err2 != nil || start != size || end < start-1 {
			t.Fatalf("took %q for an upload of %d bytes", h, size)
		}
		if n >= 0 && n != end-start+1 {
			t.Fatalf("took %q with a body of %d bytes", h, n)
		}
	})
}
