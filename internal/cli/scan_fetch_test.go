package cli_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"

	"github.com/berth-dev/berth/internal/scan/scantest"
	"github.com/berth-dev/berth/internal/testenv"
)

// firstRunImage is a Debian image with three source packages in its dpkg
// database, an npm package and a Go program built against vulnerable
// module versions.
func firstRunImage(t *testing.T) (string, []scantest.SourcePackage) {
	t.Helper()
	pkgs := []scantest.SourcePackage{{Name: "openssl", Version: "3.0.11-1~deb12u2"}, {Name: "zlib", Version: "1:1.2.13.dfsg-1"}, {Name: "glibc", Version: "2.36-9+deb12u4"}, {Name: "curl", Version: "7.88.1-10+deb12u5"}}
	var status strings.Builder
	for _, p := range pkgs {
		bin := map[string]string{"openssl": "libssl3", "zlib": "zlib1g", "glibc": "libc6", "curl": "libcurl4"}[p.Name]
		status.WriteString("Package: " + bin + "\nStatus: install ok installed\nSource: " + p.Name + "\nVersion: " + p.Version + "\nArchitecture: amd64\nMaintainer: t\nDescription: " + bin + "\n\n")
	}
	prog := scantest.GoProgram(t, "v0.3.2", "v2.2.2")
	img := scantest.Image(t,
		scantest.Step{CreatedBy: "ADD rootfs /", Files: []scantest.File{
			{Name: "etc/os-release", Data: scantest.DebianOSRelease},
			{Name: "var/lib/dpkg/status", Data: []byte(status.String())},
		}},
		scantest.Step{CreatedBy: "COPY app /app", Files: []scantest.File{
			{Name: "app/node_modules/lodash/package.json", Data: []byte(`{"name":"lodash","version":"4.17.15"}`)},
			{Name: "usr/local/bin/vulnapp", Data: prog, Mode: 0o755},
		}},
	)
	archive := filepath.Join(t.TempDir(), "app.tar")
	tag, _ := name.NewTag("example.com/app:1")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	return archive, pkgs
}

// mirrorOf serves the Go export (the real Go vulnerability database and
// the GitHub advisories it aliases) and Debian and npm exports generated
// in osv.dev's shape, and returns its URL and every record by id.
func mirrorOf(t *testing.T, pkgs []scantest.SourcePackage) (*scantest.Mirror, string, map[string]*osvpb.Vulnerability) {
	t.Helper()
	goRecs, err := scantest.GoExport(scantest.GoVulnDB(t))
	if err != nil {
		t.Fatal(err)
	}
	m := scantest.NewMirror()
	all := map[string]*osvpb.Vulnerability{}
	exports := map[string][]*osvpb.Vulnerability{
		"Go": goRecs, "Debian": scantest.DebianExport(pkgs, 500), "npm": scantest.NPMExport(map[string]string{"lodash": "4.17.15"}, 500),
	}
	exports["GIT"] = scantest.GITExport(append(append(append([]*osvpb.Vulnerability{}, exports["Go"]...), exports["Debian"]...), exports["npm"]...))
	for eco, recs := range exports {
		z, err := scantest.ExportZip(recs)
		if err != nil {
			t.Fatal(err)
		}
		m.Put(eco, z, time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC))
		for _, r := range recs {
			all[r.GetId()] = r
		}
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv.URL, all
}

type jsonFinding struct {
	VulnerabilityID string
	Aliases         []string
	PkgName         string
	Severity        string
	SeveritySource  string
	CVSSScore       float64
	CVSSVector      string
}

func jsonFindings(t *testing.T, out string) []jsonFinding {
	t.Helper()
	var r struct {
		Results []struct{ Vulnerabilities []jsonFinding }
	}
	mustJSON(t, []byte(out), &r)
	var fs []jsonFinding
	for _, res := range r.Results {
		fs = append(fs, res.Vulnerabilities...)
	}
	return fs
}

// TestScanFirstRun: on a fresh root, berth scan fetches the exports of the
// ecosystems the image has (a download cut in the middle resumes), prints
// one line per source off a terminal, and reports severities that are the
// scores of the records themselves; the second scan touches no network;
// --offline works with the network unreachable; `scan db update` with
// nothing new changes nothing.
func TestScanFirstRun(t *testing.T) {
	archive, pkgs := firstRunImage(t)
	m, base, records := mirrorOf(t, pkgs)
	root := t.TempDir()
	env := []string{"BERTH_ROOT=" + root, "BERTH_CONFIG=" + filepath.Join(root, "config.json"), "BERTH_SCAN_DB_REPOSITORY=" + base}

	m.CutNext("Debian", 20000)
	r := scanBerth(t, env, "scan", "--format", "json", archive)
	if r.code != 0 {
		t.Fatalf("first scan: exit %d\n%s", r.code, r.stderr)
	}
	for _, eco := range []string{"Go", "Debian", "npm"} {
		if !strings.Contains(r.stderr, eco+": Downloaded ") {
			t.Errorf("stderr lacks the %s line:\n%s", eco, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "\x1b[") || strings.Count(r.stderr, "\n") > 6 {
		t.Errorf("off a terminal, expected plain lines, one per source:\n%s", r.stderr)
	}
	resumed := false
	for _, q := range m.Requests() {
		if q.Path == "/Debian/all.zip" && q.Range == "bytes=20000-" && q.Status == http.StatusPartialContent {
			resumed = true
		}
		if q.Path == "/PyPI/all.zip" || q.Path == "/Maven/all.zip" {
			t.Errorf("fetched %s, which the image has no packages of", q.Path)
		}
	}
	if !resumed {
		t.Errorf("the cut Debian download was not resumed with a Range request: %+v", m.Requests())
	}

	// Severities: each finding's score is the score of the record it names
	// as its source, one of the vectors NVD and GitHub publish scores for.
	findings := jsonFindings(t, r.stdout)
	byID := map[string]jsonFinding{}
	for _, f := range findings {
		byID[f.VulnerabilityID] = f
		if f.Severity == "UNKNOWN" {
			continue
		}
		src := ""
		for _, id := range append([]string{f.VulnerabilityID}, f.Aliases...) {
			rec := records[id]
			if rec == nil || len(rec.GetSeverity()) == 0 {
				continue
			}
			src = rec.GetSeverity()[0].GetScore()
			break
		}
		want, ok := scantest.KnownVectors[src]
		if !ok || f.CVSSVector != src || f.CVSSScore != want {
			t.Errorf("%s (%s): %s %.1f %q, want the score %.1f of its record's vector %q", f.VulnerabilityID, f.PkgName, f.Severity, f.CVSSScore, f.CVSSVector, want, src)
		}
	}
	goF, ok := byID["GO-2022-1059"]
	if !ok || goF.SeveritySource != "ghsa" || goF.Severity == "UNKNOWN" {
		t.Errorf("GO-2022-1059: %+v, want the score of its GHSA alias", goF)
	}
	var debian, npm int
	for _, f := range findings {
		switch {
		case strings.HasPrefix(f.VulnerabilityID, "DEBIAN-CVE-"):
			debian++
		case strings.HasPrefix(f.VulnerabilityID, "DSA-"):
			t.Errorf("%s reported beside its DEBIAN-CVE records", f.VulnerabilityID)
		case f.PkgName == "lodash":
			npm++
		}
	}
	if debian != 2 || npm != 1 {
		t.Errorf("%d Debian and %d npm findings, want 2 and 1 (half of the generated packages are affected)", debian, npm)
	}

	// --severity HIGH,CRITICAL keeps exactly those.
	r = scanBerth(t, env, "scan", "--format", "json", "--severity", "HIGH,CRITICAL", archive)
	high := jsonFindings(t, r.stdout)
	want := 0
	for _, f := range findings {
		if f.Severity == "HIGH" || f.Severity == "CRITICAL" {
			want++
		}
	}
	if r.code != 0 || len(high) != want || want == 0 {
		t.Errorf("--severity HIGH,CRITICAL: exit %d, %d findings, want %d", r.code, len(high), want)
	}

	// The second scan asks nobody anything. The Go standard library's
	// advisories alias only their CVE, whose score is in the GIT export a
	// scan does not fetch: the scan says how to get it.
	n := len(m.Requests())
	start := time.Now()
	r = scanBerth(t, env, "scan", "--format", "json", "-o", filepath.Join(t.TempDir(), "r.json"), archive)
	took := time.Since(start)
	if r.code != 0 || len(m.Requests()) != n || !strings.Contains(r.stderr, "`berth scan db update GIT` adds the scores") {
		t.Errorf("second scan: exit %d, %d requests, stderr %q", r.code, len(m.Requests())-n, r.stderr)
	}
	t.Logf("second scan %s", took)
	var stdlib jsonFinding // a standard-library finding known by its CVE only
	for _, f := range findings {
		if f.PkgName == "stdlib" && f.Severity == "UNKNOWN" {
			stdlib = f
		}
	}
	if stdlib.VulnerabilityID == "" {
		t.Fatalf("no unscored standard-library finding among %v", findings)
	}
	cve := ""
	for _, a := range stdlib.Aliases {
		if strings.HasPrefix(a, "CVE-") {
			cve = a
		}
	}
	r = scanBerth(t, env, "scan", "db", "update", "GIT")
	if r.code != 0 || !strings.Contains(r.stderr, "severities") {
		t.Fatalf("db update GIT: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = scanBerth(t, env, "scan", "--format", "json", archive)
	for _, f := range jsonFindings(t, r.stdout) {
		if f.Severity == "UNKNOWN" {
			t.Errorf("%s (%s) still UNKNOWN though its CVE record has a score", f.VulnerabilityID, f.PkgName)
		}
		if f.VulnerabilityID == stdlib.VulnerabilityID && (f.SeveritySource != "nvd" || f.CVSSScore != scantest.KnownVectors[records[cve].GetSeverity()[0].GetScore()]) {
			t.Errorf("%s: %+v, want the score of %s's record", f.VulnerabilityID, f, cve)
		}
	}
	if strings.Contains(r.stderr, "db update GIT") {
		t.Errorf("hinted at GIT after fetching it: %s", r.stderr)
	}

	// --offline with the network unreachable.
	dead := deadURL(t)
	off := []string{"BERTH_ROOT=" + root, "BERTH_CONFIG=" + filepath.Join(root, "config.json"), "BERTH_SCAN_DB_REPOSITORY=" + dead, "BERTH_SCAN_DB_MAX_AGE=1"}
	r = scanBerth(t, off, "scan", "--offline", "--db-max-age", "0", "--format", "json", archive)
	if r.code != 0 || len(jsonFindings(t, r.stdout)) != len(findings) {
		t.Errorf("--offline: exit %d\n%s", r.code, r.stderr)
	}

	// A database update with nothing new: conditional requests only.
	n = len(m.Requests())
	r = scanBerth(t, env, "scan", "db", "update", "Go", "Debian", "npm", "GIT")
	if r.code != 0 || !strings.Contains(r.stdout, "No source changed") || !strings.Contains(r.stdout, "up to date: ") {
		t.Errorf("db update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, q := range m.Requests()[n:] {
		if q.Status != http.StatusNotModified {
			t.Errorf("db update request %+v, want 304", q)
		}
	}
	r = scanBerth(t, env, "scan", "db", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "Debian export, "+base+"/Debian/all.zip") {
		t.Errorf("db status: %s", r.stdout)
	}
}

// TestScanWithoutDatabase: --offline and --skip-db-update keep the old
// exit 2 and hint; with every repository unreachable the scan says how to
// get data; the repository comes from the flag, else the environment,
// else the settings file.
func TestScanWithoutDatabase(t *testing.T) {
	archive, pkgs := firstRunImage(t)
	root := t.TempDir()
	cfg := filepath.Join(root, "config.json")
	dead := deadURL(t)
	env := []string{"BERTH_ROOT=" + root, "BERTH_CONFIG=" + cfg, "BERTH_SCAN_DB_REPOSITORY=" + dead}
	// With a mirror that would serve everything, --offline and
	// --skip-db-update still ask it nothing.
	m, base, _ := mirrorOf(t, pkgs)
	live := []string{"BERTH_ROOT=" + root, "BERTH_CONFIG=" + cfg, "BERTH_SCAN_DB_REPOSITORY=" + base}
	for _, flag := range []string{"--offline", "--skip-db-update", "--offline-scan"} {
		r := scanBerth(t, live, "scan", flag, archive)
		if r.code != 2 || !strings.Contains(r.stderr, "no vulnerability database") || !strings.Contains(r.stderr, "hint: fetch one with `berth scan db update`") {
			t.Errorf("scan %s without a database: exit %d %q", flag, r.code, r.stderr)
		}
	}
	if n := len(m.Requests()); n != 0 {
		t.Errorf("--offline / --skip-db-update sent %d requests: %+v", n, m.Requests())
	}
	r := scanBerth(t, env, "scan", archive)
	if r.code != 2 || !strings.Contains(r.stderr, dead) || !strings.Contains(r.stderr, "hint: check the network") {
		t.Errorf("scan with no repository reachable: exit %d %q", r.code, r.stderr)
	}

	// The settings file names the mirror when neither flag nor variable do.
	os.WriteFile(cfg, []byte(`{"scan-db-repository": ["`+dead+`", "`+base+`"]}`), 0o644)
	noEnv := []string{"BERTH_ROOT=" + root, "BERTH_CONFIG=" + cfg, "BERTH_SCAN_DB_REPOSITORY="}
	if r := scanBerth(t, noEnv, "scan", "db", "update", "npm"); r.code != 0 || !strings.Contains(r.stdout, "Updated 1 sources") {
		t.Errorf("db update from the settings file's second repository: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The flag wins over both.
	if r := scanBerth(t, env, "scan", "db", "update", "--db-repository", base, "Go"); r.code != 0 || !strings.Contains(r.stdout, "Updated 1 sources") {
		t.Errorf("db update --db-repository: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// trivy's --download-db-only: every ecosystem the repository lists
	// that berth scans (Debian is new; Go and npm are current; GIT is not
	// one berth matches).
	r = scanBerth(t, env, "scan", "--download-db-only", "--db-repository", base)
	if r.code != 0 || !strings.Contains(r.stderr, "Updated 1 sources") || !strings.Contains(r.stderr, "up to date: Go, npm") {
		t.Errorf("--download-db-only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// deadURL is an http URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
}

// TestSystemDfPruneVulnDB: system df has a line for the fetched database;
// system prune -a leaves it (only the downloads of an interrupted update
// go); system prune --scan-db removes it.
func TestSystemDfPruneVulnDB(t *testing.T) {
	_, pkgs := firstRunImage(t)
	m, base, _ := mirrorOf(t, pkgs)
	root := t.TempDir()
	env := []string{"BERTH_ROOT=" + root, "BERTH_CONFIG=" + filepath.Join(root, "config.json"), "BERTH_SCAN_DB_REPOSITORY=" + base}
	if r := scanBerth(t, env, "scan", "db", "update", "Go", "npm"); r.code != 0 {
		t.Fatalf("db update: exit %d\n%s", r.code, r.stderr)
	}
	// An interrupted update leaves a partial download behind.
	m.Put("Debian", []byte(strings.Repeat("x", 100000)), time.Now())
	m.CutEvery("Debian", 10000)
	if r := scanBerth(t, env, "scan", "db", "update", "Debian"); r.code != 2 {
		t.Fatalf("interrupted db update: exit %d\n%s", r.code, r.stderr)
	}
	dbPath := filepath.Join(root, "scan", "vuln.db")
	dbInfo, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	r := scanBerth(t, env, "system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Size}}|{{.Reclaimable}}")
	var row string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "Scan Database|") {
			row = l
		}
	}
	if r.code != 0 || !strings.HasPrefix(row, "Scan Database|2|") || strings.HasSuffix(row, "|0B") {
		t.Fatalf("system df: exit %d, row %q in\n%s", r.code, row, r.stdout)
	}
	if r := scanBerth(t, env, "system", "prune", "-a", "-f"); r.code != 0 {
		t.Fatalf("system prune -a: exit %d %s", r.code, r.stderr)
	}
	if after, err := os.Stat(dbPath); err != nil || !os.SameFile(dbInfo, after) {
		t.Fatalf("system prune -a removed or rewrote the vulnerability database: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "scan", "downloads")); len(entries) != 0 {
		t.Errorf("system prune -a kept the interrupted download: %v", entries)
	}
	r = scanBerth(t, env, "system", "prune", "-f", "--scan-db")
	if r.code != 0 {
		t.Fatalf("system prune --scan-db: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(dbPath); !os.IsNotExist(err) {
		t.Errorf("system prune --scan-db kept the database: %v", err)
	}
	r = scanBerth(t, env, "system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Size}}")
	if !strings.Contains(r.stdout, "Scan Database|0|0B") {
		t.Errorf("system df after the prune:\n%s", r.stdout)
	}
}

// slowWriter delays every write, a slow network.
type slowWriter struct {
	http.ResponseWriter
	delay time.Duration
}

func (s slowWriter) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.ResponseWriter.Write(p)
}

// TestScanDuringUpdate: while `scan db update` replaces the database (a
// slow download holds it for seconds), scans with the database as it is
// neither wait for it nor see a half-built one, and find what they found
// before; once the update is done, the next scan sees the new data.
func TestScanDuringUpdate(t *testing.T) {
	archive, pkgs := firstRunImage(t)
	m, _, _ := mirrorOf(t, pkgs)
	var slow atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() && strings.HasSuffix(r.URL.Path, "/all.zip") {
			w = slowWriter{w, 40 * time.Millisecond}
		}
		m.ServeHTTP(w, r)
	}))
	defer srv.Close()
	root := t.TempDir()
	env := []string{"BERTH_ROOT=" + root, "BERTH_CONFIG=" + filepath.Join(root, "config.json"), "BERTH_SCAN_DB_REPOSITORY=" + srv.URL}
	r := scanBerth(t, env, "scan", "--format", "json", archive)
	if r.code != 0 {
		t.Fatalf("first scan: exit %d %s", r.code, r.stderr)
	}
	before := len(jsonFindings(t, r.stdout))

	// Debian's export changes to one without any record for the image.
	m.Put("Debian", mustZip(t, scantest.DebianExport(nil, 3000)), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	slow.Store(true)
	dbPath := filepath.Join(root, "scan", "vuln.db")
	oldDB, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var finished atomic.Bool
	done := make(chan scanRun, 1)
	updateStart := time.Now()
	go func() {
		u := scanBerth(t, env, "scan", "db", "update", "Debian")
		t.Logf("the update took %s", time.Since(updateStart))
		finished.Store(true)
		done <- u
	}()
	time.Sleep(300 * time.Millisecond) // the update holds the lock and is downloading
	var during []int                   // findings of scans that ended before the new database was renamed in
	var around []int                   // findings of scans the rename overlapped
	for !finished.Load() {
		start := time.Now()
		r := scanBerth(t, env, "scan", "--skip-db-update", "--format", "json", archive)
		if r.code != 0 {
			t.Fatalf("scan during the update: exit %d\n%s", r.code, r.stderr)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("a scan during the update took %s: it waited for the update", took)
		}
		cur, err := os.Stat(dbPath)
		if n := len(jsonFindings(t, r.stdout)); err == nil && os.SameFile(cur, oldDB) {
			during = append(during, n)
		} else {
			around = append(around, n)
		}
	}
	if u := <-done; u.code != 0 {
		t.Fatalf("db update: exit %d %s", u.code, u.stderr)
	}
	r = scanBerth(t, env, "scan", "--skip-db-update", "--format", "json", archive)
	after := len(jsonFindings(t, r.stdout))
	if after >= before {
		t.Errorf("after the update %d findings, before %d: the new Debian data is not used", after, before)
	}
	if len(during) == 0 {
		t.Fatal("the update finished before any scan could run beside it")
	}
	for _, n := range during {
		if n != before {
			t.Errorf("a scan during the update found %d, want the old database's %d", n, before)
		}
	}
	for _, n := range around {
		if n != before && n != after {
			t.Errorf("a scan as the update ended found %d: neither the old database's %d nor the new one's %d", n, before, after)
		}
	}
	t.Logf("%d scans ran during the update, %d as it ended", len(during), len(around))
}

func mustZip(t *testing.T, recs []*osvpb.Vulnerability) []byte {
	t.Helper()
	z, err := scantest.ExportZip(recs)
	if err != nil {
		t.Fatal(err)
	}
	return z
}
