package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	bolt "go.etcd.io/bbolt"
)

func record(id, eco, pkg, modified string) string {
	return fmt.Sprintf(`{"schema_version":"1.6.0","id":%q,"modified":%q,"affected":[{"package":{"ecosystem":%q,"name":%q},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`, id, modified, eco, pkg)
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, d := range files {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(d)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportSources(t *testing.T) {
	ctx := context.Background()
	debianZip := zipOf(t, map[string][]byte{
		"DSA-1-1.json":     []byte(record("DSA-1-1", "Debian:12", "glibc", "2026-10-01T00:00:00Z")),
		"DSA-2-1.json":     []byte(record("DSA-2-1", "Debian:11", "openssl", "2026-09-01T00:00:00Z")),
		"README.txt":       []byte("not a record"),
		"DSA-bad.json":     []byte(`{"id": 7}`),
		"nested/dir/.json": []byte(record("DSA-3-1", "Debian:12", "zlib", "2026-08-01T00:00:00Z")),
	})
	npmZip := zipOf(t, map[string][]byte{"GHSA-x.json": []byte(record("GHSA-x", "npm", "lodash", "2026-07-01T00:00:00Z"))})
	both := zipOf(t, map[string][]byte{"Debian/all.zip": debianZip, "npm/all.zip": npmZip})

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "GO-1.json"), []byte(record("GO-1", "Go", "golang.org/x/text", "0001-01-01T00:00:00Z")), 0o644)
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{"), 0o644)
	os.WriteFile(filepath.Join(dir, "all.zip"), npmZip, 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link.json"))

	tests := []struct {
		name    string
		data    []byte // written as a file; nil means use dir
		file    string
		records int
		skipped int
		ecos    map[string]int
		err     string
	}{
		{name: "directory with a zip, a broken record and a symlink", records: 2, skipped: 1, ecos: map[string]int{"Go": 1, "npm": 1}},
		{name: "all.zip", data: debianZip, file: "all.zip", records: 3, skipped: 1, ecos: map[string]int{"Debian": 3}},
		{name: "zip of all.zips", data: both, file: "osv.zip", records: 4, skipped: 1, ecos: map[string]int{"Debian": 3, "npm": 1}},
		{name: "one record", data: []byte(record("X-1", "PyPI", "Django", "2026-01-01T00:00:00Z")), file: "X-1.json", records: 1, ecos: map[string]int{"PyPI": 1}},
		{name: "not a zip", data: []byte("garbage"), file: "x.bin", err: "neither a directory"},
		{name: "empty zip", data: zipOf(t, nil), file: "e.zip", err: "no OSV records"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := dir
			if tc.data != nil {
				src = filepath.Join(t.TempDir(), tc.file)
				os.WriteFile(src, tc.data, 0o644)
			}
			dbPath := filepath.Join(t.TempDir(), "vuln.db")
			s, err := Import(ctx, dbPath, src, nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if _, err := Open(ctx, dbPath); !errors.Is(err, ErrNoDatabase) {
					t.Errorf("after a failed first import: %v, want ErrNoDatabase", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Records != tc.records || s.Skipped != tc.skipped || fmt.Sprint(s.Ecosystems) != fmt.Sprint(tc.ecos) {
				t.Errorf("source %+v, want %d records, %d skipped, %v", s, tc.records, tc.skipped, tc.ecos)
			}
		})
	}
}

func TestStatusCandidatesAndReimport(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "none.db")); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("missing database: %v", err)
	}
	dir := t.TempDir()
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	os.WriteFile(filepath.Join(dir, "A.json"), []byte(record("A", "Debian:12", "glibc", "2026-10-01T00:00:00Z")), 0o644)
	os.WriteFile(filepath.Join(dir, "B.json"), []byte(record("B", "PyPI", "Django_REST", "2026-10-02T00:00:00Z")), 0o644)
	if _, err := Import(ctx, dbPath, dir, nil); err != nil {
		t.Fatal(err)
	}
	// Importing the same source again replaces its entry, not duplicates it.
	if _, err := Import(ctx, dbPath, dir, nil); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 2 || len(st.Sources) != 1 || !st.Newest.Equal(time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("status %+v", st)
	}
	if age := st.Age(time.Date(2026, 10, 12, 0, 0, 0, 0, time.UTC)); age != 240*time.Hour {
		t.Errorf("age %v", age)
	}
	for _, tc := range []struct {
		eco, name, want string
	}{{"Debian", "glibc", "A"}, {"Debian", "openssl", ""}, {"Go", "glibc", ""}, {"PyPI", "django-rest", "B"}, {"PyPI", "Django.Rest", "B"}} {
		vs, err := db.Candidates(tc.eco, []string{tc.name})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, v := range vs {
			got += v.GetId()
		}
		if got != tc.want {
			t.Errorf("Candidates(%s, %s) = %q, want %q", tc.eco, tc.name, got, tc.want)
		}
	}
}

// TestPushPull moves a database through an OCI registry and refuses a
// manifest that is not one.
func TestPushPull(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "A.json"), []byte(record("A", "Go", "example.com/m", "2026-10-01T00:00:00Z")), 0o644)
	src := filepath.Join(t.TempDir(), "vuln.db")
	if _, err := Import(ctx, src, dir, nil); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host+"/sec/vulndb:1", name.Insecure)
	if _, err := Push(ctx, src, ref); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "sub", "vuln.db")
	st, err := Pull(ctx, dst, ref)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 1 {
		t.Errorf("pulled %d records", st.Records)
	}
	missing, _ := name.ParseReference(host+"/sec/none:1", name.Insecure)
	if _, err := Pull(ctx, dst, missing); err == nil {
		t.Error("pulling a missing reference succeeded")
	}
	db, err := Open(ctx, dst)
	if err != nil {
		t.Fatalf("a failed pull damaged the database: %v", err)
	}
	db.Close()
}

// BenchmarkCandidatesLinux: Debian's "linux" source package has about ten
// thousand advisories and linux-libc-dev is in most Debian images; decoding
// them is the largest single cost of matching a real Debian database.
func BenchmarkCandidatesLinux(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("DEBIAN-CVE-2099-%05d", i)
		rec := fmt.Sprintf(`{"schema_version":"1.6.0","id":%q,"modified":"2026-10-01T00:00:00Z","published":"2026-09-01T00:00:00Z","aliases":["CVE-2099-%05d"],"details":"%s","affected":[{"package":{"ecosystem":"Debian:12","name":"linux","purl":"pkg:deb/debian/linux?arch=source"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"6.1.%d-1"}]}],"versions":["6.1.1-1","6.1.2-1","6.1.3-1"],"database_specific":{"source":"https://storage.googleapis.com/osv-test/%s.json"}}],"references":[{"type":"ADVISORY","url":"https://security-tracker.debian.org/tracker/CVE-2099-%05d"}]}`,
			id, i, strings.Repeat("In the Linux kernel, a vulnerability has been resolved. ", 8), i, id, i)
		os.WriteFile(filepath.Join(dir, id+".json"), []byte(rec), 0o644)
	}
	dbPath := filepath.Join(b.TempDir(), "vuln.db")
	if _, err := Import(ctx, dbPath, dir, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db, err := Open(ctx, dbPath)
		if err != nil {
			b.Fatal(err)
		}
		vs, err := db.Candidates("Debian", []string{"linux-libc-dev", "linux"})
		if err != nil || len(vs) != 10000 {
			b.Fatalf("%d candidates, %v", len(vs), err)
		}
		db.Close()
	}
}

// TestImportIsAtomic: a reader that opened the database keeps reading the
// file it opened while imports replace it, an import does not wait for
// readers, and a failed import leaves the database and its directory as
// they were.
func TestImportIsAtomic(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	a1, a2, b := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(a1, "A-1.json"), []byte(record("A-1", "npm", "left-pad", "2026-10-01T00:00:00Z")), 0o644)
	os.WriteFile(filepath.Join(b, "B-1.json"), []byte(record("B-1", "PyPI", "django", "2026-10-01T00:00:00Z")), 0o644)
	if _, err := Import(ctx, dbPath, a1, nil); err != nil {
		t.Fatal(err)
	}
	old, err := Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	// The same source again, with other records, and a second source.
	os.Rename(filepath.Join(a1, "A-1.json"), filepath.Join(a2, "unused"))
	os.WriteFile(filepath.Join(a1, "A-2.json"), []byte(record("A-2", "npm", "left-pad", "2026-10-02T00:00:00Z")), 0o644)
	done := make(chan error, 1)
	go func() {
		_, err := Import(ctx, dbPath, a1, nil)
		if err == nil {
			_, err = Import(ctx, dbPath, b, nil)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an import waited for a reader")
	}
	ids := func(db *DB, eco, name string) string {
		vs, err := db.Candidates(eco, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, v := range vs {
			out += v.GetId() + " "
		}
		return out
	}
	if got := ids(old, "npm", "left-pad") + ids(old, "PyPI", "django"); got != "A-1 " {
		t.Errorf("the reader opened before the imports sees %q, want its own file: A-1", got)
	}
	cur, err := Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if got := ids(cur, "npm", "left-pad") + ids(cur, "PyPI", "django"); got != "A-2 B-1 " {
		t.Errorf("after the imports %q, want A-2 B-1", got)
	}
	st, _ := cur.Status()
	if len(st.Sources) != 2 || st.Records != 2 {
		t.Errorf("sources %+v", st.Sources)
	}

	before, _ := os.ReadFile(dbPath)
	bad := filepath.Join(t.TempDir(), "broken.zip")
	good := zipOf(t, map[string][]byte{"C-1.json": []byte(record("C-1", "Go", "example.com/m", "2026-10-01T00:00:00Z"))})
	os.WriteFile(bad, good[:len(good)-30], 0o644) // the central directory cut off
	if _, err := Import(ctx, dbPath, bad, nil); err == nil {
		t.Fatal("a damaged zip was imported")
	}
	after, _ := os.ReadFile(dbPath)
	if !bytes.Equal(before, after) {
		t.Error("a failed import changed the database")
	}
	entries, _ := os.ReadDir(filepath.Dir(dbPath))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), buildPrefix) {
			t.Errorf("a failed import left %s behind", e.Name())
		}
	}
}

// TestImportReplacesOlderSchema: a database an older berth wrote is
// replaced by the import, not merged into or refused.
func TestImportReplacesOlderSchema(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	b, err := bolt.Open(dbPath, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Update(func(tx *bolt.Tx) error {
		m, _ := tx.CreateBucket([]byte("meta"))
		tx.CreateBucket([]byte("records"))
		tx.CreateBucket([]byte("index"))
		return m.Put([]byte("schema"), []byte("berth-vulndb-2"))
	})
	b.Close()
	if _, err := Open(ctx, dbPath); !errors.Is(err, ErrSchema) {
		t.Fatalf("opening an older database: %v, want ErrSchema", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "A.json"), []byte(record("A", "Go", "example.com/m", "2026-10-01T00:00:00Z")), 0o644)
	if _, err := Import(ctx, dbPath, dir, nil); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if st, _ := db.Status(); st.Records != 1 {
		t.Errorf("status %+v", st)
	}
}
