package ui_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/registry"
)

// FuzzPages sends arbitrary paths, queries and forms to the pages of a
// filled registry: no request may panic or get a 500, and whatever the
// request said must come back escaped, never as markup.
func FuzzPages(f *testing.F) {
	for _, s := range []string{
		"/", "/ui/?q=app&p=2", "/ui/r/library/busybox", "/ui/r/library/busybox/-/tag/latest",
		"/ui/r/library/busybox/-/delete?ref=latest", "/ui/r/team/app/-/manifest/sha256:" + strings.Repeat("0", 64),
		"/ui/r/team/app/-/manifest/sha256:" + strings.Repeat("0", 64) + "/dive", "/ui/r/../../etc/passwd",
		"/ui/r/a/-/-/tag/x", "/ui/?q=<script>&p=-1", "/ui/r/library/busybox?deleted=<b>x</b>&p=99999999999999999999",
		"/ui/r/library/busybox/-/tag/" + strings.Repeat("a", 300), "/ui/static/../templates/layout.html",
	} {
		f.Add("GET", s, "")
	}
	f.Add("POST", "/ui/r/library/busybox/-/delete", "ref=latest&csrf=00")
	f.Add("POST", "/ui/", "q=x")
	drv := fsDriver(f)
	opts := registry.Options{Driver: drv}
	ts, srv := newServer(f, drv, opts)
	fill(f, &pusher{t: f, base: ts.URL})
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if method != "GET" && method != "POST" && method != "HEAD" {
			method = "GET"
		}
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t#") {
			return
		}
		req, err := http.NewRequest(method, "http://registry.test"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d\n%s", method, target, rec.Code, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), "<script>") || strings.Contains(rec.Body.String(), "<b>x</b>") {
			t.Fatalf("%s %q: markup from the request reached the page", method, target)
		}
	})
}
