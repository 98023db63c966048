package ui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/auth/authtest"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/registry/storage/s3"
	"github.com/berth-dev/berth/internal/registry/ui"
	"github.com/berth-dev/berth/internal/testenv"
)

// get fetches a page as a browser would (cookies kept by the client's jar).
func get(t *testing.T, p *pusher, path string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	return read(t, p.do("GET", path, "", nil, hdr...))
}

// post sends the delete form.
func post(t *testing.T, p *pusher, path string, form url.Values, hdr ...string) (int, http.Header, string) {
	t.Helper()
	return read(t, p.do("POST", path, "application/x-www-form-urlencoded", []byte(form.Encode()), hdr...))
}

func read(t *testing.T, resp *http.Response) (int, http.Header, string) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func newClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	check(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`)

// noRawMarkup fails when a hostile value reached the page as markup.
func noRawMarkup(t *testing.T, body string) {
	t.Helper()
	for _, bad := range []string{hostileLabel, `<img src=x`, "onerror=alert('attr')>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func TestPages(t *testing.T) { checkPages(t, fsDriver(t)) }

// TestPagesS3: the same pages over the S3 driver (SeaweedFS), where the
// catalog and tag lists come from index objects, never a bucket listing.
func TestPagesS3(t *testing.T) {
	sw := testenv.SharedSeaweedFS(t)
	d, err := s3.New(context.Background(), s3.Options{
		Bucket: sw.Bucket(t), Endpoint: sw.Endpoint, Region: sw.Region, PathStyle: true,
		AccessKey: sw.AccessKey, SecretKey: sw.SecretKey, PartSize: s3.MinPartSize,
	})
	check(t, err)
	checkPages(t, d)
}

func checkPages(t *testing.T, drv storage.Driver) {
	ts, _ := newServer(t, drv, registry.Options{})
	p := &pusher{t: t, base: ts.URL, client: newClient(t)}
	f := fill(t, p)

	cases := []struct {
		name, path string
		status     int
		want       []string
	}{
		{"root is the repository list", "/", 200, []string{"library/busybox", "team/app", "evil/repo", longName, `href="/ui/r/team/app"`}},
		{"ui list", "/ui/", 200, []string{"Repositories", `for="q"`}},
		{"search", "/ui/?q=APP", 200, []string{"team/app", "1 matching"}},
		{"search with no match", "/ui/?q=nothing-here", 200, []string{"No repository matches"}},
		{"repository", "/ui/r/library/busybox", 200, []string{"latest", "1.36", "linux/amd64", shortHex(f.busybox), "docker pull " + hostOf(ts.URL) + "/library/busybox:latest", "2023-11-14 22:13 UTC"}},
		{"index row", "/ui/r/team/app", 200, []string{"v2", "index", "linux/amd64, linux/arm64/v8", "5 manifests"}},
		{"tag page", "/ui/r/library/busybox/-/tag/latest", 200, []string{f.busybox, "1000:1000", `&#34;/bin/sh&#34; &#34;-c&#34;`, "8080/tcp", "org.opencontainers.image.title", "ADD file:base", "make install", "berth pull " + hostOf(ts.URL) + "/library/busybox:latest", "Manifest JSON", "Config JSON", "Analyze the layers", "Delete tag latest", "<dt>Pushed</dt><dd>20"}},
		{"index page", "/ui/r/team/app/-/tag/v2", 200, []string{"Platforms", "linux/arm64/v8", `href="/ui/r/team/app/-/manifest/` + f.amd64 + `"`}},
		{"referrers by artifact type", "/ui/r/team/app/-/manifest/" + f.amd64, 200, []string{"application/spdx&#43;json", "application/vnd.dev.cosign.artifact.sig.v1&#43;json", shortHex(f.sig), shortHex(f.sbom), "dev.cosignproject.cosign/signature"}},
		{"artifact page", "/ui/r/team/app/-/manifest/" + f.sig, 200, []string{"artifact", "Refers to", f.amd64}},
		{"hostile labels as text", "/ui/r/evil/repo/-/manifest/" + f.hostile, 200, []string{"&lt;script&gt;alert(&#34;label&#34;)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(&#39;attr&#39;)&gt;", longValue}},
		{"long name", "/ui/r/" + longName, 200, []string{longName}},
		{"dive", "/ui/r/library/busybox/-/manifest/" + f.busybox + "/dive", 200, []string{"Efficiency", "100.0 %", "Wasted bytes", "make install"}},
		{"dive of an index", "/ui/r/team/app/-/manifest/" + f.app + "/dive", 400, []string{"is an index"}},
		{"delete confirmation", "/ui/r/library/busybox/-/delete?ref=1.36", 200, []string{"Delete tag?", `name="csrf"`, `value="1.36"`}},
		{"unknown repository", "/ui/r/no/such", 404, []string{"no such repository"}},
		{"unknown tag", "/ui/r/library/busybox/-/tag/nope", 404, []string{"no such tag"}},
		{"invalid name", "/ui/r/%3Cscript%3E", 400, []string{"not a valid repository"}},
		{"unknown page", "/ui/nowhere", 404, []string{"no such page"}},
		{"static css", "/ui/static/style.css", 200, []string{"prefers-color-scheme: dark"}},
		{"static js", "/ui/static/app.js", 200, []string{"clipboard"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := get(t, p, c.path)
			if status != c.status {
				t.Fatalf("GET %s: %d, want %d\n%.2000s", c.path, status, c.status, body)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: no %q in\n%.3000s", c.path, w, body)
				}
			}
			noRawMarkup(t, body)
			if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP %q", csp)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
				t.Errorf("inline script or style in %s", c.path)
			}
		})
	}
	// Tag counts on the list: read within the page's wait or, on a slow
	// store, by the next view.
	counted := regexp.MustCompile(`<tr data-key="library/busybox"><td><a [^>]*>library/busybox</a></td><td class="num">2</td>`)
	for i := 0; ; i++ {
		time.Sleep(time.Duration(i) * 100 * time.Millisecond)
		if _, _, body := get(t, p, "/ui/"); counted.MatchString(body) {
			break
		} else if i == 5 {
			t.Errorf("the list never shows library/busybox's 2 tags:\n%s", body)
			break
		}
	}
	// The dive summary, once computed, shows on the manifest page itself.
	if _, _, body := get(t, p, "/ui/r/library/busybox/-/tag/latest"); !strings.Contains(body, "Full analysis") || !strings.Contains(body, "Efficiency") {
		t.Errorf("cached dive summary missing from the tag page")
	}
}

func shortHex(d string) string { return strings.TrimPrefix(d, "sha256:")[:12] }
func hostOf(u string) string   { return strings.TrimPrefix(u, "http://") }

func TestDeleteFlow(t *testing.T) {
	ts, _ := newServer(t, fsDriver(t), registry.Options{})
	p := &pusher{t: t, base: ts.URL, client: newClient(t)}
	f := fill(t, p)

	_, _, body := get(t, p, "/ui/r/library/busybox/-/delete?ref=1.36")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in\n%s", body)
	}
	tok := m[1]
	action := "/ui/r/library/busybox/-/delete"

	refusals := []struct {
		name string
		form url.Values
		hdr  []string
		jar  bool
	}{
		{"no token", url.Values{"ref": {"1.36"}}, nil, true},
		{"wrong token", url.Values{"ref": {"1.36"}, "csrf": {strings.Repeat("0", 64)}}, nil, true},
		{"no cookie", url.Values{"ref": {"1.36"}, "csrf": {tok}}, nil, false},
		{"cross-site", url.Values{"ref": {"1.36"}, "csrf": {tok}}, []string{"Sec-Fetch-Site", "cross-site"}, true},
		{"foreign origin", url.Values{"ref": {"1.36"}, "csrf": {tok}}, []string{"Origin", "http://evil.example"}, true},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			q := *p
			if !c.jar {
				q.client = newClient(t)
			}
			status, _, body := post(t, &q, action, c.form, c.hdr...)
			if status != http.StatusForbidden {
				t.Fatalf("status %d, want 403\n%s", status, body)
			}
		})
	}
	if status, _, _ := get(t, p, "/ui/r/library/busybox/-/tag/1.36"); status != 200 {
		t.Fatalf("tag gone after refused deletes: %d", status)
	}

	status, hdr, _ := post(t, p, action, url.Values{"ref": {"1.36"}, "csrf": {tok}}, "Origin", ts.URL, "Sec-Fetch-Site", "same-origin")
	if status != http.StatusSeeOther || hdr.Get("Location") != "/ui/r/library/busybox?deleted=1.36" {
		t.Fatalf("delete: %d %q", status, hdr.Get("Location"))
	}
	if status, _, _ := get(t, p, "/ui/r/library/busybox/-/tag/1.36"); status != 404 {
		t.Fatalf("deleted tag still served: %d", status)
	}
	// The API agrees: the tag is gone, the manifest stays under latest.
	if resp := p.do("GET", "/v2/library/busybox/manifests/1.36", "", nil); resp.StatusCode != 404 {
		t.Fatalf("API still has the tag: %s", resp.Status)
	}
	_, _, body = get(t, p, "/ui/r/library/busybox?deleted=1.36")
	if !strings.Contains(body, "Deleted <code>1.36</code>") || strings.Contains(body, `/-/tag/1.36"`) {
		t.Errorf("repository page after delete:\n%s", body)
	}

	// A manifest delete removes every tag naming it.
	_, _, body = get(t, p, "/ui/r/team/app/-/delete?ref="+f.app)
	if !strings.Contains(body, "with its tag <code>v2</code>") {
		t.Errorf("manifest confirmation does not name its tags:\n%s", body)
	}
	tok = csrfField.FindStringSubmatch(body)[1]
	if status, _, body := post(t, p, "/ui/r/team/app/-/delete", url.Values{"ref": {f.app}, "csrf": {tok}}); status != http.StatusSeeOther {
		t.Fatalf("manifest delete: %d\n%s", status, body)
	}
	if resp := p.do("GET", "/v2/team/app/manifests/"+f.app, "", nil); resp.StatusCode != 404 {
		t.Fatalf("API still has the index: %s", resp.Status)
	}
}

func TestDeleteDisabled(t *testing.T) {
	ts, _ := newServer(t, fsDriver(t), registry.Options{DisableDelete: true})
	p := &pusher{t: t, base: ts.URL, client: newClient(t)}
	fill(t, p)
	_, _, body := get(t, p, "/ui/r/library/busybox/-/tag/latest")
	if strings.Contains(body, "Delete tag") {
		t.Errorf("delete offered where deletes are disabled")
	}
	if status, _, _ := get(t, p, "/ui/r/library/busybox/-/delete?ref=latest"); status != http.StatusForbidden {
		t.Errorf("confirmation page: %d, want 403", status)
	}
	if status, _, _ := post(t, p, "/ui/r/library/busybox/-/delete", url.Values{"ref": {"latest"}}); status != http.StatusForbidden {
		t.Errorf("delete POST: %d, want 403", status)
	}
}

func TestBasicAuth(t *testing.T) {
	ts, _ := newServer(t, fsDriver(t), registry.Options{Auth: htpasswdAuth(t, map[string]string{"alice": "s3cret"})})
	p := &pusher{t: t, base: ts.URL, client: newClient(t), user: "alice", pw: "s3cret"}
	fill(t, p)
	anon := &pusher{t: t, base: ts.URL, client: newClient(t)}
	wrong := &pusher{t: t, base: ts.URL, client: newClient(t), user: "alice", pw: "nope"}
	for _, path := range []string{"/", "/ui/", "/ui/r/library/busybox", "/ui/r/library/busybox/-/tag/latest", "/ui/static/app.js"} {
		for _, q := range []*pusher{anon, wrong} {
			status, hdr, body := get(t, q, path)
			if status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("GET %s as %q: %d %q", path, q.user, status, hdr.Get("WWW-Authenticate"))
			}
			if strings.Contains(body, "busybox") {
				t.Errorf("GET %s without login shows content", path)
			}
		}
		if status, _, _ := get(t, p, path); status != 200 {
			t.Errorf("GET %s as alice: %d", path, status)
		}
	}
}

// TestTokenAccess: with token auth the pages follow the token's grants, as
// the API does: the catalog needs registry:catalog:*, a repository pull,
// deleting delete.
func TestTokenAccess(t *testing.T) {
	ts, is, admin, _ := tokenRegistry(t)
	admin.client = newClient(t)
	reader := &pusher{t: t, base: ts.URL, client: newClient(t), bearer: is.Mint(t, authtest.Token{Subject: "reader", Access: []auth.Access{
		{Type: "repository", Name: "library/busybox", Actions: []string{"pull"}}}})}
	anon := &pusher{t: t, base: ts.URL, client: newClient(t)}

	if status, hdr, _ := get(t, anon, "/ui/"); status != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("no token: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
	checks := []struct {
		who    *pusher
		path   string
		status int
	}{
		{admin, "/ui/", 200},
		{reader, "/ui/", 403},
		{reader, "/ui/r/library/busybox", 200},
		{reader, "/ui/r/library/busybox/-/tag/latest", 200},
		{reader, "/ui/r/team/app", 403},
		{reader, "/ui/r/library/busybox/-/delete?ref=latest", 403},
		{admin, "/ui/r/library/busybox/-/delete?ref=latest", 200},
	}
	for _, c := range checks {
		if status, _, body := get(t, c.who, c.path); status != c.status {
			t.Errorf("GET %s: %d, want %d\n%.500s", c.path, status, c.status, body)
		}
	}
	if _, _, body := get(t, reader, "/ui/r/library/busybox/-/tag/latest"); strings.Contains(body, "Delete") {
		t.Errorf("a reader is offered deletion")
	}
	// Even with a valid form (the admin's CSRF pair), a reader cannot delete.
	_, _, body := get(t, admin, "/ui/r/library/busybox/-/delete?ref=latest")
	tok := csrfField.FindStringSubmatch(body)[1]
	reader.client = admin.client // same cookie jar: the reader holds a valid CSRF pair
	if status, _, _ := post(t, reader, "/ui/r/library/busybox/-/delete", url.Values{"ref": {"latest"}, "csrf": {tok}}); status != 403 {
		t.Errorf("reader's delete: %d, want 403", status)
	}
	if resp := admin.do("GET", "/v2/library/busybox/manifests/latest", "", nil); resp.StatusCode != 200 {
		t.Errorf("tag gone after a reader's delete: %s", resp.Status)
	}
}

// TestPrefix: below http.prefix (which the serving wrapper strips) every
// link, asset and form action carries the prefix, and so does the CSRF
// cookie's path.
func TestPrefix(t *testing.T) {
	srv, err := registry.New(registry.Options{Driver: fsDriver(t), Pages: func(s *registry.Server) http.Handler {
		return ui.New(s, ui.Options{Prefix: "/reg/", PullHost: "registry.example:5000"})
	}})
	check(t, err)
	ts := httptest.NewServer(http.StripPrefix("/reg", srv))
	t.Cleanup(ts.Close)
	p := &pusher{t: t, base: ts.URL + "/reg", client: newClient(t)}
	fill(t, p)
	for _, path := range []string{"/ui/", "/ui/r/library/busybox", "/ui/r/library/busybox/-/tag/latest"} {
		status, _, body := get(t, p, path)
		if status != 200 {
			t.Fatalf("GET /reg%s: %d", path, status)
		}
		for _, m := range regexp.MustCompile(`(?:href|src|action)="([^"]*)"`).FindAllStringSubmatch(body, -1) {
			if !strings.HasPrefix(m[1], "/reg/") && !strings.HasPrefix(m[1], "#") {
				t.Errorf("GET /reg%s: link %q outside the prefix", path, m[1])
			}
		}
		if path == "/ui/r/library/busybox" && !strings.Contains(body, "docker pull registry.example:5000/library/busybox:latest") {
			t.Errorf("pull line does not use the configured host")
		}
	}
	_, hdr, _ := get(t, p, "/ui/r/library/busybox/-/delete?ref=latest")
	if c := hdr.Get("Set-Cookie"); !strings.Contains(c, "Path=/reg/ui/") || !strings.Contains(c, "SameSite=Strict") || !strings.Contains(c, "HttpOnly") {
		t.Errorf("CSRF cookie %q", c)
	}
}
