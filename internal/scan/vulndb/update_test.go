package vulndb_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"

	"github.com/berth-dev/berth/internal/scan/scantest"
	"github.com/berth-dev/berth/internal/scan/vulndb"
)

var matchable = []string{"Debian", "Go", "npm", "PyPI"}

// fixture is, built once, the Go export made of the real Go vulnerability
// database and Debian and npm exports generated in osv.dev's shape.
type fixture struct {
	zips    map[string][]byte
	records map[string]int
}

var fixtureOnce struct {
	sync.Once
	f   fixture
	err error
}

func loadFixture(t *testing.T) fixture {
	t.Helper()
	dir := scantest.GoVulnDB(t)
	fixtureOnce.Do(func() {
		f := fixture{zips: map[string][]byte{}, records: map[string]int{}}
		goRecs, err := scantest.GoExport(dir)
		if err != nil {
			fixtureOnce.err = err
			return
		}
		// The real records up to GO-2022-1100 (and their GitHub
		// advisories) keep the tests quick under -race; the CLI tests use
		// the whole database.
		var some []*osvpb.Vulnerability
		for _, r := range goRecs {
			id := r.GetId()
			if len(r.GetRelated()) > 0 {
				id = r.GetRelated()[0]
			}
			if id <= "GO-2022-1100" {
				some = append(some, r)
			}
		}
		goRecs = some
		var pkgs []scantest.SourcePackage
		for i := 0; i < 100; i++ {
			pkgs = append(pkgs, scantest.SourcePackage{Name: "pkg" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), Version: "1.0-1"})
		}
		npm := map[string]string{"left-pad": "1.3.0", "lodash": "4.17.15"}
		for eco, recs := range map[string][]*osvpb.Vulnerability{
			"Go": goRecs, "Debian": scantest.DebianExport(pkgs, 500), "npm": scantest.NPMExport(npm, 300),
		} {
			z, err := scantest.ExportZip(recs)
			if err != nil {
				fixtureOnce.err = err
				return
			}
			f.zips[eco], f.records[eco] = z, len(recs)
		}
		fixtureOnce.f = f
	})
	if fixtureOnce.err != nil {
		t.Fatal(fixtureOnce.err)
	}
	return fixtureOnce.f
}

func serve(t *testing.T, f fixture, ecos ...string) (*scantest.Mirror, string) {
	t.Helper()
	m := scantest.NewMirror()
	for _, e := range ecos {
		m.Put(e, f.zips[e], time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC))
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv.URL
}

func status(t *testing.T, dbPath string) vulndb.Status {
	t.Helper()
	db, err := vulndb.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestUpdateFromExports is the first run against a local mirror of real
// exports: only the ecosystems asked for are downloaded; a download cut in
// the middle is resumed with a Range request (within the run, and by the
// next run), never fetched twice; an update that changes nothing costs
// conditional requests only and leaves the file alone; a changed export
// replaces only its own source.
func TestUpdateFromExports(t *testing.T) {
	ctx := context.Background()
	f := loadFixture(t)
	m, base := serve(t, f, "Go", "Debian", "npm")
	dbPath := filepath.Join(t.TempDir(), "scan", "vuln.db")
	goSize := int64(len(f.zips["Go"]))

	// First run: Go is cut in the middle and this run may not retry, so it
	// fails, keeping the bytes; Debian arrives.
	m.CutNext("Go", goSize/2)
	res, err := vulndb.Update(ctx, dbPath, vulndb.UpdateOptions{Repositories: []string{base}, Ecosystems: []string{"Go", "Debian"}, Matchable: matchable, Attempts: 1})
	if err == nil || res.Failed["Go"] == nil || !strings.Contains(err.Error(), "next attempt resumes") {
		t.Fatalf("a cut download: %v, failed %v", err, res.Failed)
	}
	if st := status(t, dbPath); len(st.Sources) != 1 || st.Sources[0].Name != "Debian" || st.Sources[0].Records != f.records["Debian"] {
		t.Fatalf("after the first run: %+v", st.Sources)
	}
	// Second run: Go resumes where it stopped, is cut again, and is resumed
	// again within the run.
	m.CutNext("Go", goSize/4)
	res, err = vulndb.Update(ctx, dbPath, vulndb.UpdateOptions{Repositories: []string{base}, Ecosystems: []string{"Go", "Debian"}, Matchable: matchable, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Updated) != 1 || res.Updated[0].Name != "Go" || res.Updated[0].Records != f.records["Go"] || len(res.Fresh) != 1 {
		t.Fatalf("second run: updated %+v, fresh %v", res.Updated, res.Fresh)
	}
	var ranges []string
	for _, r := range m.Requests() {
		if r.Path == "/Go/all.zip" && r.Range != "" {
			ranges = append(ranges, r.Range)
			if r.Status != http.StatusPartialContent {
				t.Errorf("resumed request %s answered %d", r.Range, r.Status)
			}
		}
	}
	if len(ranges) != 2 || ranges[0] != "bytes="+strconv.FormatInt(goSize/2, 10)+"-" {
		t.Errorf("resumed with ranges %v, want two, the first from byte %d", ranges, goSize/2)
	}
	if served := m.BytesServed("Go"); served != goSize {
		t.Errorf("served %d bytes of Go's %d: a resumed download fetched some twice", served, goSize)
	}
	if served := m.BytesServed("npm"); served != 0 {
		t.Errorf("npm was downloaded though not asked for")
	}
	if entries, _ := os.ReadDir(vulndb.DownloadDir(dbPath)); len(entries) != 0 {
		t.Errorf("downloads left behind: %v", entries)
	}

	// Nothing changed upstream: conditional requests, 304s, the same file.
	before, _ := os.Stat(dbPath)
	n := len(m.Requests())
	start := time.Now()
	res, err = vulndb.Update(ctx, dbPath, vulndb.UpdateOptions{Repositories: []string{base}, Ecosystems: []string{"Go", "Debian"}, Matchable: matchable})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if res.Changed() || len(res.Unchanged) != 2 {
		t.Errorf("an update with nothing new: %+v", res)
	}
	for _, r := range m.Requests()[n:] {
		if r.Status != http.StatusNotModified || r.IfNoneMatch == "" {
			t.Errorf("request %+v, want a conditional one answered 304", r)
		}
	}
	after, _ := os.Stat(dbPath)
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("an update with nothing new rewrote the database")
	}
	for _, s := range status(t, dbPath).Sources {
		if time.Since(s.Checked) > time.Minute {
			t.Errorf("%s checked %s: the confirmation was not recorded", s.Name, s.Checked)
		}
	}
	t.Logf("no-change update: %s", took)

	// Debian changes: only its source is replaced.
	m.Put("Debian", f.zips["npm"], time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC)) // other content
	res, err = vulndb.Update(ctx, dbPath, vulndb.UpdateOptions{Repositories: []string{base}, Ecosystems: []string{"Go", "Debian"}, Matchable: matchable})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Updated) != 1 || res.Updated[0].Name != "Debian" || len(res.Unchanged) != 1 {
		t.Errorf("after Debian changed: %+v", res)
	}
}

// TestUpdateRefusesBadExports: a file that is not a zip, or that does not
// match the checksum the server announced, never reaches the database.
func TestUpdateRefusesBadExports(t *testing.T) {
	ctx := context.Background()
	f := loadFixture(t)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{name: "not a zip", data: bytes.Repeat([]byte("<html>captive portal</html>"), 100), want: "not a zip"},
		{name: "truncated zip", data: f.zips["npm"][:len(f.zips["npm"])-100], want: "not a zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := scantest.NewMirror()
			m.Put("npm", tc.data, time.Now())
			srv := httptest.NewServer(m)
			defer srv.Close()
			dbPath := filepath.Join(t.TempDir(), "vuln.db")
			_, err := vulndb.Update(ctx, dbPath, vulndb.UpdateOptions{Repositories: []string{srv.URL}, Ecosystems: []string{"npm"}, Matchable: matchable})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(dbPath); !os.IsNotExist(err) {
				t.Errorf("a refused export left a database: %v", err)
			}
			if entries, _ := os.ReadDir(vulndb.DownloadDir(dbPath)); len(entries) != 0 {
				t.Errorf("a refused download was kept: %v", entries)
			}
		})
	}
	t.Run("checksum mismatch", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Goog-Hash", "crc32c=AAAAAA==,md5=AAAAAAAAAAAAAAAAAAAAAA==")
			w.Header().Set("ETag", `"x"`)
			http.ServeContent(w, r, "", time.Now(), bytes.NewReader(f.zips["npm"]))
		}))
		defer srv.Close()
		dbPath := filepath.Join(t.TempDir(), "vuln.db")
		_, err := vulndb.Update(ctx, dbPath, vulndb.UpdateOptions{Repositories: []string{srv.URL}, Ecosystems: []string{"npm"}, Matchable: matchable})
		if err == nil || !strings.Contains(err.Error(), "MD5") {
			t.Fatalf("err %v, want an MD5 mismatch", err)
		}
	})
}

// TestUpdateRepositoryOrder: repositories are tried in order, an ecosystem
// one cannot provide is taken from the next (an unreachable one, one that
// does not publish it), and an OCI mirror of the database is one of them.
func TestUpdateRepositoryOrder(t *testing.T) {
	ctx := context.Background()
	f := loadFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	_, goOnly := serve(t, f, "Go")
	_, full := serve(t, f, "Go", "Debian", "npm")

	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	res, err := vulndb.Update(ctx, dbPath, vulndb.UpdateOptions{Repositories: []string{dead, goOnly, full}, Ecosystems: []string{"Go", "Debian"}, Matchable: matchable, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.From["Go"] != goOnly || res.From["Debian"] != full {
		t.Errorf("taken from %v, want Go from the first live repository and Debian from the one that has it", res.From)
	}

	// The database pushed to a registry, then an update whose first
	// repository is that OCI mirror and whose second has npm only.
	var blobGets atomic.Int32
	regHandler := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobGets.Add(1)
		}
		regHandler.ServeHTTP(w, r)
	}))
	defer reg.Close()
	refStr := strings.TrimPrefix(reg.URL, "http://") + "/sec/vulndb:1"
	ref, _ := name.ParseReference(refStr, name.Insecure)
	if _, err := vulndb.Push(ctx, dbPath, ref); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "vuln.db")
	parse := func(s string) (name.Reference, error) { return name.ParseReference(s, name.Insecure) }
	res, err = vulndb.Update(ctx, other, vulndb.UpdateOptions{Repositories: []string{refStr, full}, Ecosystems: []string{"Go", "npm"}, Matchable: matchable, ParseRef: parse})
	if err != nil {
		t.Fatal(err)
	}
	if res.From["Go"] != refStr || res.From["npm"] != full {
		t.Errorf("taken from %v, want Go from the OCI mirror, npm from the exports", res.From)
	}
	names := map[string]int{}
	for _, s := range status(t, other).Sources {
		names[s.Name] = s.Records
	}
	if names["Go"] != f.records["Go"] || names["npm"] != f.records["npm"] || names["Debian"] != 0 {
		t.Errorf("sources %v", names)
	}
	// The mirror has not changed: its manifest says so, nothing is pulled.
	gets := blobGets.Load()
	res, err = vulndb.Update(ctx, other, vulndb.UpdateOptions{Repositories: []string{refStr, full}, Ecosystems: []string{"Go", "npm"}, Matchable: matchable, ParseRef: parse})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed() || blobGets.Load() != gets || len(res.Unchanged) != 2 {
		t.Errorf("an unchanged mirror: %+v, %d blob downloads", res, blobGets.Load()-gets)
	}

	// Nothing reachable: the error names each ecosystem.
	_, err = vulndb.Update(ctx, filepath.Join(t.TempDir(), "vuln.db"), vulndb.UpdateOptions{Repositories: []string{dead}, Ecosystems: []string{"Go"}, Matchable: matchable, Attempts: 1})
	if err == nil || !strings.Contains(err.Error(), "Go: ") {
		t.Errorf("with no repository reachable: %v", err)
	}
}

// TestScanDuringUpdate: a reader that opened the database before an update
// reads it to the end, with the records it had.
func TestScanDuringUpdate(t *testing.T) {
	ctx := context.Background()
	f := loadFixture(t)
	m, base := serve(t, f, "Go")
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	if _, err := vulndb.Update(ctx, dbPath, vulndb.UpdateOptions{Repositories: []string{base}, Ecosystems: []string{"Go"}, Matchable: matchable}); err != nil {
		t.Fatal(err)
	}
	reader, err := vulndb.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	m.Put("Go", f.zips["npm"], time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) // Go's export now holds other records
	if _, err := vulndb.Update(ctx, dbPath, vulndb.UpdateOptions{Repositories: []string{base}, Ecosystems: []string{"Go"}, Matchable: matchable}); err != nil {
		t.Fatal(err)
	}
	vs, err := reader.Candidates("Go", []string{"golang.org/x/text"})
	if err != nil || len(vs) == 0 {
		t.Fatalf("the reader lost its records during the update: %d, %v", len(vs), err)
	}
	if v, err := reader.Get("GO-2022-1059"); err != nil || v == nil {
		t.Fatalf("the reader cannot read GO-2022-1059 any more: %v", err)
	}
	now, err := vulndb.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer now.Close()
	if v, _ := now.Get("GO-2022-1059"); v != nil {
		t.Error("a new reader sees the old records")
	}
}
