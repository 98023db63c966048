package ui_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/auth/authtest"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/testenv"
)

// browserSession is Debian's chromium, headless, driven over the DevTools
// protocol. It records every JavaScript dialog (a hostile value that ran as
// script would open one), every console error and every uncaught exception
// (a CSP violation is logged as an error), and fails the test on any.
type browserSession struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string // screenshot directory

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, base string) *browserSession {
	t.Helper()
	bin := testenv.Peer(t, "chromium")
	shots := os.Getenv("BERTH_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	shots = filepath.Join(shots, strings.ReplaceAll(t.Name(), "/", "_"))
	check(t, os.MkdirAll(shots, 0o755))
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browserSession{t: t, ctx: ctx, base: base, shot: shots}
	// Starts the browser (the first Run allocates it) and its listener.
	check(t, chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.problem("a JavaScript dialog opened: " + e.Message)
		case *runtime.EventExceptionThrown:
			b.problem("uncaught exception: " + e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError && !strings.Contains(e.Entry.Text, "401") && !strings.Contains(e.Entry.Text, "403") &&
				!strings.Contains(e.Entry.Text, "404") && !strings.Contains(e.Entry.Text, "400") {
				b.problem("console error: " + e.Entry.Text)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				b.problem("console.error called")
			}
		}
	}))
	check(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, runtime.Enable, cdp.Empty{})
		return err
	})))
	return b
}

func (b *browserSession) problem(s string) {
	b.mu.Lock()
	b.problems = append(b.problems, s)
	b.mu.Unlock()
}

// clean fails the test with whatever the page did wrong so far.
func (b *browserSession) clean(where string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("%s: %s", where, p)
	}
	b.problems = nil
}

func (b *browserSession) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browserSession) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

func (b *browserSession) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](b *browserSession, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds (navigation done).
func (b *browserSession) waitFor(js string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("timed out waiting for %s at %s", js, b.location())
}

func (b *browserSession) location() string {
	b.t.Helper()
	return eval[string](b, `location.pathname + location.search`)
}

func (b *browserSession) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	check(b.t, err)
	check(b.t, os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644))
}

func (b *browserSession) call(f func(ctx context.Context, t *chromedp.Target) error) {
	b.t.Helper()
	b.do(chromedp.Func(f))
}

// wants fails unless the page's visible text has every string.
func (b *browserSession) wants(where string, want ...string) {
	b.t.Helper()
	body := b.text("body")
	for _, w := range want {
		if !strings.Contains(body, w) {
			b.t.Errorf("%s: the page does not show %q:\n%.2000s", where, w, body)
		}
	}
}

// a11yJS lists what WCAG 2 AA checks find on the page: text whose contrast
// with its background is under 4.5:1, inputs without a label, tables
// without header cells, links without text.
const a11yJS = `(() => {
  const out = [];
  const rgb = s => { const m = s.match(/[\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c; } return [255, 255, 255]; };
  for (const el of document.querySelectorAll("body *")) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(el);
    if (st.visibility === "hidden" || st.display === "none" || el.closest("[hidden]") || el.classList.contains("skip")) continue;
    const a = lum(rgb(st.color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) out.push("contrast " + ratio.toFixed(2) + " of <" + el.tagName.toLowerCase() + "> " + el.textContent.trim().slice(0, 40));
  }
  for (const i of document.querySelectorAll("input:not([type=hidden]), button")) {
    const named = (i.labels && i.labels.length) || i.getAttribute("aria-label") || i.textContent.trim();
    if (!named) out.push("unlabelled " + i.outerHTML.slice(0, 60));
  }
  for (const t of document.querySelectorAll("table")) if (!t.querySelector("th")) out.push("table without headers");
  for (const a of document.querySelectorAll("a")) if (!a.textContent.trim()) out.push("link without text " + a.href);
  return out;
})()`

// accessible fails the test with what a11yJS finds.
func (b *browserSession) accessible(where string) {
	b.t.Helper()
	for _, p := range eval[[]string](b, a11yJS) {
		b.t.Errorf("%s: %s", where, p)
	}
}

// TestBrowser walks every page in chromium as a new user would, without
// authentication, and clicks the filter and delete flows through.
func TestBrowser(t *testing.T) {
	ts, _ := newServer(t, fsDriver(t), registry.Options{})
	p := &pusher{t: t, base: ts.URL, client: newClient(t)}
	f := fill(t, p)
	b := newBrowser(t, ts.URL)

	// Keyboard: the first Tab reaches the skip link.
	b.open("/")
	b.do(chromedp.KeyEvent("\t"))
	if got := eval[string](b, `document.activeElement.textContent`); got != "Skip to content" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}
	b.wants("repository list", "library/busybox", "team/app", "evil/repo", longName)
	if n := eval[int](b, `document.querySelectorAll("#repo-list tbody tr").length`); n != 4 {
		t.Errorf("%d repository rows, want 4", n)
	}
	b.screenshot("repositories")

	// Live filter: typing hides the rows that do not match, at once.
	b.do(chromedp.SendKeys(chromedp.ID("q"), "app"))
	if n := eval[int](b, `[...document.querySelectorAll("#repo-list tbody tr")].filter(r => !r.hidden).length`); n != 1 {
		t.Errorf("%d rows visible after typing 'app', want 1", n)
	}
	b.do(chromedp.SendKeys(chromedp.ID("q"), "zzz"))
	if !eval[bool](b, `!document.querySelector(".filter-empty").hidden`) {
		t.Errorf("no 'nothing matches' line when the filter matches nothing")
	}
	b.screenshot("repositories-filtered")
	// Search on the server: the form submits, with the query in the URL.
	eval[bool](b, `(document.getElementById("q").value = "", true)`)
	b.do(chromedp.SendKeys(chromedp.ID("q"), "busy"), chromedp.Click(chromedp.CSS(`form.search button`)))
	b.waitFor(`location.search === "?q=busy" && document.readyState === "complete"`)
	if loc := b.location(); loc != "/ui/?q=busy" && loc != "/?q=busy" {
		t.Errorf("search went to %q", loc)
	}
	if n := eval[int](b, `document.querySelectorAll("#repo-list tbody tr").length`); n != 1 {
		t.Errorf("server search for 'busy': %d rows, want 1", n)
	}
	b.clean("repository list")

	// A repository: tags with digest, size, platform, created, pull line
	// and its copy button (added by the script).
	b.do(chromedp.Click(chromedp.CSS(`a[href="/ui/r/library/busybox"]`)), chromedp.WaitVisible(chromedp.ID("tag-list")))
	b.wants("repository page", "latest", "1.36", "linux/amd64", shortHex(f.busybox), "2023-11-14 22:13 UTC",
		"docker pull "+hostOf(ts.URL)+"/library/busybox:latest")
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		_, err := cdp.Call(b.ctx, chromedp.FromContext(b.ctx).Browser, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: perm}, Setting: browser.PermissionSettingGranted, Origin: ts.URL})
		check(t, err)
	}
	b.do(chromedp.Click(chromedp.CSS(`#tag-list tr[data-key="latest"] button.copy`)))
	time.Sleep(200 * time.Millisecond)
	if got := eval[string](b, `document.querySelector('#tag-list tr[data-key="latest"] button.copy').textContent`); got != "Copied" {
		t.Errorf("copy button says %q after a click", got)
	}
	clip, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	check(t, err)
	if want := "docker pull " + hostOf(ts.URL) + "/library/busybox:latest"; clip != want {
		t.Errorf("clipboard holds %q, want %q", clip, want)
	}
	b.screenshot("repository")
	b.clean("repository page")

	// The tag: config, history, pull lines; then the layer analysis.
	b.do(chromedp.Click(chromedp.CSS(`a[href="/ui/r/library/busybox/-/tag/latest"]`)), chromedp.WaitVisible(chromedp.CSS("dl.facts")))
	b.wants("tag page", f.busybox, "1000:1000", `"/bin/sh" "-c"`, `"echo hello"`, "8080/tcp", "PATH=/bin",
		"org.opencontainers.image.title", "ADD file:base", "make install", "berth pull "+hostOf(ts.URL)+"/library/busybox:latest")
	if eval[bool](b, `document.querySelector("details.raw").open`) {
		t.Errorf("the manifest JSON is expanded by default")
	}
	b.screenshot("tag")
	b.do(chromedp.Click(chromedp.CSS(`a[href$="/dive"]`)), chromedp.WaitVisible(chromedp.CSS("dl.figures")))
	b.wants("layer analysis", "Efficiency", "100.0 %", "Wasted bytes", "make install")
	b.screenshot("dive")
	b.clean("tag and analysis pages")

	// The index and its referrers, by artifact type.
	b.open("/ui/r/team/app/-/tag/v2")
	b.wants("index page", "Platforms", "linux/amd64", "linux/arm64/v8")
	b.do(chromedp.Click(chromedp.CSS(`a[href="/ui/r/team/app/-/manifest/`+f.amd64+`"]`)), chromedp.WaitVisible(chromedp.CSS("h3")))
	b.wants("referrers", "application/spdx+json", "application/vnd.dev.cosign.artifact.sig.v1+json", shortHex(f.sig), shortHex(f.sbom))
	b.screenshot("referrers")
	b.clean("index and referrers")

	// Hostile labels show as text, exactly as pushed, and run nothing.
	b.open("/ui/r/evil/repo/-/manifest/" + f.hostile)
	labels := eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("table.kv tr")].map(r => [r.querySelector("th").textContent, r.querySelector("td").textContent]))`)
	for k, v := range map[string]string{"evil": hostileLabel, "attr": hostileAttr, "long": longValue, hostileLabel: "key"} {
		if labels[k] != v {
			t.Errorf("label %q shows as %.80q, want %.80q", k, labels[k], v)
		}
	}
	if n := eval[int](b, `document.querySelectorAll("img, script:not([src])").length`); n != 0 {
		t.Errorf("%d injected img/script elements", n)
	}
	if w := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("the 10 KiB label widens the page by %d px", w)
	}
	b.screenshot("hostile")
	b.clean("hostile labels")

	// Phone width, light and dark.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
	for _, path := range []string{"/ui/", "/ui/r/library/busybox", "/ui/r/library/busybox/-/tag/latest", "/ui/r/" + longName, "/ui/r/evil/repo/-/manifest/" + f.hostile} {
		b.open(path)
		if w := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
			t.Errorf("%s is %d px wider than a phone's screen", path, w)
		}
	}
	b.do(chromedp.EmulateReset())
	a11yPages := []string{"/ui/", "/ui/r/library/busybox", "/ui/r/library/busybox/-/tag/latest", "/ui/r/team/app/-/manifest/" + f.amd64,
		"/ui/r/library/busybox/-/manifest/" + f.busybox + "/dive", "/ui/r/library/busybox/-/delete?ref=latest", "/ui/r/no/such"}
	for _, path := range a11yPages {
		b.open(path)
		b.accessible("light " + path)
	}
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
	b.open("/ui/r/library/busybox")
	b.screenshot("phone-light")
	light := eval[string](b, `getComputedStyle(document.body).backgroundColor`)
	b.call(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	})
	b.open("/ui/r/library/busybox/-/tag/latest")
	dark := eval[string](b, `getComputedStyle(document.body).backgroundColor`)
	if light != "rgb(255, 255, 255)" || dark != "rgb(13, 17, 23)" {
		t.Errorf("background light %q, dark %q", light, dark)
	}
	b.screenshot("phone-dark")
	b.do(chromedp.EmulateReset())
	for _, path := range a11yPages {
		b.open(path)
		b.accessible("dark " + path)
	}
	b.clean("phone and dark")

	// Delete a tag: the confirmation, then the form.
	b.open("/ui/r/library/busybox/-/tag/1.36")
	b.do(chromedp.Click(chromedp.CSS(`a.button.danger[href*="ref=1.36"]`)), chromedp.WaitVisible(chromedp.CSS("form.confirm")))
	b.wants("confirmation", "Delete tag?", "library/busybox:1.36")
	b.screenshot("delete-confirm")
	b.do(chromedp.Click(chromedp.CSS(`form.confirm button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if loc := b.location(); loc != "/ui/r/library/busybox?deleted=1.36" {
		t.Errorf("after the delete the browser is at %q", loc)
	}
	b.wants("after delete", "Deleted 1.36.")
	if n := eval[int](b, `document.querySelectorAll('#tag-list tr[data-key="1.36"]').length`); n != 0 {
		t.Errorf("the deleted tag is still listed")
	}
	if resp := p.do("GET", "/v2/library/busybox/manifests/1.36", "", nil); resp.StatusCode != 404 {
		t.Errorf("the API still serves the deleted tag: %s", resp.Status)
	}
	// Cancel leaves everything as it was.
	b.open("/ui/r/library/busybox/-/delete?ref=latest")
	b.do(chromedp.Click(chromedp.CSS(`form.confirm a`)), chromedp.WaitVisible(chromedp.CSS("dl.facts")))
	if resp := p.do("GET", "/v2/library/busybox/manifests/latest", "", nil); resp.StatusCode != 200 {
		t.Errorf("cancel deleted the tag: %s", resp.Status)
	}
	b.clean("delete flow")

	// Without JavaScript every page still reads; there are no copy buttons.
	b.call(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	b.open("/ui/r/library/busybox")
	b.wants("without JavaScript", "latest", "docker pull "+hostOf(ts.URL)+"/library/busybox:latest")
	b.screenshot("no-js")
	b.clean("without JavaScript")
	t.Logf("screenshots in %s", b.shot)
}

// TestBrowserAuth: with htpasswd the browser's login prompt is answered
// (as a user typing the password would), a wrong password gets nothing,
// and with token auth a user whose token grants pull but not delete sees
// the pages but no delete control, and is refused when forcing the form.
func TestBrowserAuth(t *testing.T) {
	t.Run("htpasswd", func(t *testing.T) {
		ts, _ := newServer(t, fsDriver(t), registry.Options{Auth: htpasswdAuth(t, map[string]string{"alice": "s3cret"})})
		p := &pusher{t: t, base: ts.URL, client: newClient(t), user: "alice", pw: "s3cret"}
		fill(t, p)
		for _, c := range []struct {
			user, pw string
			ok       bool
		}{{"alice", "wrong", false}, {"alice", "s3cret", true}} {
			b := newBrowser(t, ts.URL)
			answerLogin(t, b, c.user, c.pw)
			b.open("/ui/r/library/busybox")
			body := b.text("body")
			if c.ok != strings.Contains(body, "docker pull") {
				t.Errorf("password %q: page shows %.300q", c.pw, body)
			}
			if c.ok {
				b.screenshot("signed-in")
				b.do(chromedp.Click(chromedp.CSS(`a[href="/ui/r/library/busybox/-/tag/latest"]`)), chromedp.WaitVisible(chromedp.CSS("dl.facts")))
				b.do(chromedp.Click(chromedp.CSS(`a.button.danger[href*="ref=latest"]`)), chromedp.WaitVisible(chromedp.CSS("form.confirm")))
				b.do(chromedp.Click(chromedp.CSS(`form.confirm button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
				b.wants("delete as alice", "Deleted latest.")
				b.clean("signed in")
			}
		}
	})
	t.Run("token reader", func(t *testing.T) {
		ts, is, admin, _ := tokenRegistry(t)
		reader := is.Mint(t, authtest.Token{Subject: "reader", Access: []auth.Access{
			{Type: "registry", Name: "catalog", Actions: []string{"*"}},
			{Type: "repository", Name: "library/busybox", Actions: []string{"pull"}}}})
		b := newBrowser(t, ts.URL)
		// The token comes with every request, as an authenticating proxy
		// in front of the registry would add it.
		b.call(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + reader}})
			return err
		})
		b.open("/ui/")
		b.wants("reader's list", "library/busybox")
		b.open("/ui/r/library/busybox/-/tag/latest")
		b.wants("reader's tag page", "1000:1000")
		if n := eval[int](b, `document.querySelectorAll("a.danger, form.confirm").length`); n != 0 {
			t.Errorf("a reader is offered %d delete controls", n)
		}
		b.screenshot("reader")
		b.open("/ui/r/library/busybox/-/delete?ref=latest")
		b.wants("reader forcing the delete page", "403 Forbidden")
		b.open("/ui/r/team/app")
		b.wants("reader in a repository without pull", "403 Forbidden")
		if resp := admin.do("GET", "/v2/library/busybox/manifests/latest", "", nil); resp.StatusCode != 200 {
			t.Errorf("tag gone: %s", resp.Status)
		}
		b.clean("token reader")
	})
}

// answerLogin makes the browser answer Basic challenges with user and pw,
// through the Fetch domain's auth handling (headless chromium has no
// prompt to type into).
func answerLogin(t *testing.T, b *browserSession, user, pw string) {
	t.Helper()
	tr := true
	b.call(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &tr})
		return err
	})
	var answered sync.Map
	go func() {
		for ev, err := range chromedp.Events(b.ctx, fetch.RequestPaused) {
			if err != nil {
				return
			}
			go chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := cdp.Call(ctx, t, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				return err
			}))
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(b.ctx, fetch.AuthRequired) {
			if err != nil {
				return
			}
			resp := fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: pw}
			// A wrong password is tried once, as a user giving up would.
			if _, again := answered.LoadOrStore(ev.AuthChallenge.Origin, true); again && pw == "wrong" {
				resp = fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			}
			go chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := cdp.Call(ctx, t, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: &resp})
				return err
			}))
		}
	}()
}
