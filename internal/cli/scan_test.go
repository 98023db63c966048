package cli_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/scan"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/scan/scantest"
	"github.com/berth-dev/berth/internal/testenv"
)

type scanRun struct {
	stdout, stderr string
	code           int
}

func scanBerth(t *testing.T, env []string, args ...string) scanRun {
	t.Helper()
	r := testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: args, Env: env})
	return scanRun{r.Stdout, r.Stderr, r.Code}
}

// TestScanCLI drives berth scan, scout cves, sbom and scan db end to end on
// an image holding a Go program built against vulnerable module versions,
// with the real Go vulnerability database.
func TestScanCLI(t *testing.T) {
	root := t.TempDir()
	// Nothing here may reach osv.dev: updates go to an address nobody
	// listens on.
	env := []string{"BERTH_ROOT=" + root, "BERTH_CONFIG=" + filepath.Join(root, "config.json"), "BERTH_SCAN_DB_REPOSITORY=" + deadURL(t)}
	prog := scantest.GoProgram(t, "v0.3.2", "v2.2.2")
	img := scantest.Image(t,
		scantest.Step{CreatedBy: "ADD rootfs /", Files: []scantest.File{{Name: "etc/os-release", Data: scantest.DebianOSRelease}}},
		scantest.Step{CreatedBy: "COPY vulnapp /usr/local/bin/", Files: []scantest.File{{Name: "usr/local/bin/vulnapp", Data: prog, Mode: 0o755}}},
	)
	dir := t.TempDir()
	archive := filepath.Join(dir, "app.tar")
	tag, _ := name.NewTag("example.com/app:1")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}

	// No database, offline: exit 2 with the command that fixes it.
	r := scanBerth(t, env, "scan", "--offline", archive)
	if r.code != 2 || !strings.Contains(r.stderr, "no vulnerability database") || !strings.Contains(r.stderr, "import one with `berth scan db import") {
		t.Fatalf("scan without a database: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := scanBerth(t, env, "scan", "db", "status"); r.code != 2 {
		t.Fatalf("db status without a database: exit %d", r.code)
	}

	r = scanBerth(t, env, "scan", "db", "import", scantest.GoVulnDB(t))
	if r.code != 0 || !regexp.MustCompile(`Imported \d{4} records`).MatchString(r.stdout) {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = scanBerth(t, env, "scan", "db", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "Go=") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	t.Run("stale database warning", func(t *testing.T) {
		osv := t.TempDir()
		os.WriteFile(filepath.Join(osv, "X.json"), []byte(`{"id":"X-1","modified":"2020-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/text"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`), 0o644)
		old := filepath.Join(t.TempDir(), "old.db")
		if r := scanBerth(t, env, "scan", "db", "import", "--db", old, osv); r.code != 0 {
			t.Fatal(r.stderr)
		}
		// Stale: the update is tried, fails, and the scan goes on with it.
		r := scanBerth(t, env, "scan", "--db", old, archive)
		if r.code != 0 || !strings.Contains(r.stderr, "scanning with the database as it is (data up to 2020-01-01)") || !strings.Contains(r.stdout, "X-1") {
			t.Errorf("stale database, update failing: exit %d stderr %q", r.code, r.stderr)
		}
		r = scanBerth(t, env, "scan", "--skip-db-update", "--db", old, archive)
		if r.code != 0 || !strings.Contains(r.stderr, "warning: the vulnerability database is") || !strings.Contains(r.stdout, "X-1") {
			t.Errorf("stale database, no update: exit %d stderr %q", r.code, r.stderr)
		}
		r = scanBerth(t, append(env, "BERTH_SCAN_DB_MAX_AGE=100000"), "scan", "--db", old, archive)
		if r.code != 0 || strings.Contains(r.stderr, "warning:") {
			t.Errorf("warned or updated despite BERTH_SCAN_DB_MAX_AGE: %q", r.stderr)
		}
	})

	t.Run("exit code gate", func(t *testing.T) {
		tests := []struct {
			args []string
			code int
		}{
			{[]string{"scan", "--exit-code", "5", archive}, 5},
			{[]string{"scan", archive}, 0},
			{[]string{"scan", "--exit-code", "5", "--severity", "CRITICAL", archive}, 0},
			{[]string{"scan", "--exit-code", "3", "--format", "sarif", archive}, 3},
			{[]string{"scan", "--exit-code", "3", "--format", "cyclonedx", archive}, 3},
			{[]string{"scan", "--exit-code", "3", "--format", "spdx-json", archive}, 3},
			{[]string{"scan", "--exit-code", "3", "--format", "json", archive}, 3},
			{[]string{"scan", "--exit-code", "3", "--format", "packages", archive}, 3},
			{[]string{"scan", "--exit-code", "3", "--format", "json", "--severity", "HIGH", archive}, 0},
			{[]string{"scout", "cves", "--exit-code", archive}, 2},
			{[]string{"scout", "cves", "--only-severity", "critical", "--exit-code", archive}, 0},
			{[]string{"scan", "--exit-code", "4", "--skip-db-update", "--offline-scan", "--no-progress", "--scanners", "vuln", "-q", "--timeout", "5m", archive}, 4},
			{[]string{"scan", "--severity", "BOGUS", archive}, 125},
			{[]string{"scan", "--format", "xml", archive}, 125},
			{[]string{"scan", filepath.Join(dir, "missing.tar"), "--db", filepath.Join(dir, "nope.db")}, 2},
		}
		for _, tc := range tests {
			if r := scanBerth(t, env, tc.args...); r.code != tc.code {
				t.Errorf("berth %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), r.code, tc.code, r.stderr)
			}
		}
	})

	t.Run("same findings in every format", func(t *testing.T) {
		sets := map[string][]string{}
		for _, f := range []string{"json", "sarif", "cyclonedx", "spdx-json", "table"} {
			out := filepath.Join(dir, "report."+f)
			if r := scanBerth(t, env, "scan", "--format", f, "-o", out, archive); r.code != 0 {
				t.Fatalf("%s: exit %d %s", f, r.code, r.stderr)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			sets[f] = findingIDs(t, f, data)
		}
		want := sets["json"]
		if !contains(want, "GO-2022-1059") || !contains(want, "GO-2022-0956") {
			t.Fatalf("json findings %v lack GO-2022-1059 / GO-2022-0956", want)
		}
		for f, got := range sets {
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s findings %v differ from json %v", f, got, want)
			}
		}
	})

	t.Run("ignore file", func(t *testing.T) {
		ign := filepath.Join(dir, ".trivyignore")
		os.WriteFile(ign, []byte("CVE-2022-32149 exp:2999-01-01\nGO-2022-0956 exp:2001-01-01\nCVE-1999-0001\n"), 0o644)
		r := scanBerth(t, env, "scan", "--format", "json", "--ignorefile", ign, archive)
		got := findingIDs(t, "json", []byte(r.stdout))
		if r.code != 0 || contains(got, "GO-2022-1059") || !contains(got, "GO-2022-0956") {
			t.Errorf("ignore by alias / expired entry: exit %d\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "expired on 2001-01-01") || !strings.Contains(r.stderr, "CVE-1999-0001 matched no finding") {
			t.Errorf("stderr %q lacks the expired and unused entries", r.stderr)
		}
	})

	t.Run("sources", func(t *testing.T) {
		// OCI layout
		lay := filepath.Join(dir, "layout")
		p, err := layout.Write(lay, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "1"})); err != nil {
			t.Fatal(err)
		}
		// root filesystem
		rootfs := filepath.Join(dir, "rootfs")
		os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755)
		os.WriteFile(filepath.Join(rootfs, "bin", "vulnapp"), prog, 0o755)
		// the local store, through berth import of a root filesystem tar
		rootfsTar := filepath.Join(dir, "rootfs.tar")
		if out, err := exec.Command("tar", "-C", rootfs, "-cf", rootfsTar, ".").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v %s", err, out)
		}
		if r := scanBerth(t, env, "import", rootfsTar, "vulnapp:1"); r.code != 0 {
			t.Fatalf("import: exit %d %s", r.code, r.stderr)
		}
		// an OCI archive written by skopeo
		ociArchive := filepath.Join(dir, "app-oci.tar")
		if out, err := exec.Command(testenv.Peer(t, "skopeo"), "copy", "--quiet", "docker-archive:"+archive, "oci-archive:"+ociArchive).CombinedOutput(); err != nil {
			t.Fatalf("skopeo: %v %s", err, out)
		}
		// Every spelling berth dive takes, trivy's --input, and the same
		// through scout cves.
		for _, args := range [][]string{
			{"vulnapp:1"}, {"berth:vulnapp:1"}, {"docker://vulnapp:1"},
			{lay}, {lay + ":1"}, {"oci:" + lay}, {"oci:" + lay + ":1"},
			{archive}, {"docker-archive:" + archive}, {"--input", archive},
			{ociArchive}, {"oci-archive:" + ociArchive},
			{"--rootfs", rootfs},
		} {
			r := scanBerth(t, env, append([]string{"scan", "--format", "json"}, args...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "GO-2022-1059") {
				t.Errorf("scan %v: exit %d\n%s", args, r.code, r.stderr)
			}
			if args[0] == "--rootfs" || args[0] == "--input" {
				continue
			}
			r = scanBerth(t, env, "scout", "cves", "--format", "json", args[0])
			if r.code != 0 || !strings.Contains(r.stdout, "GO-2022-1059") {
				t.Errorf("scout cves %v: exit %d\n%s", args, r.code, r.stderr)
			}
		}
		// A folder named like the image does not hide it (`cd myapp &&
		// berth scan myapp:1`).
		os.MkdirAll(filepath.Join(dir, "vulnapp"), 0o755)
		r := testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: []string{"scan", "--format", "json", "vulnapp:1"}, Env: env, Dir: dir})
		if r.Code != 0 || !strings.Contains(r.Stdout, "GO-2022-1059") {
			t.Errorf("scan vulnapp:1 beside a vulnapp/ folder: exit %d\n%s", r.Code, r.Stderr)
		}
		r2 := scanBerth(t, env, "sbom", "--format", "cyclonedx", archive)
		if r := r2; r.code != 0 || !strings.Contains(r.stdout, `"purl": "pkg:golang/golang.org/x/text@0.3.2"`) || strings.Contains(r.stdout, "vulnerabilities") {
			t.Errorf("sbom: exit %d\n%s", r.code, r.stderr)
		}
	})

	t.Run("registry", func(t *testing.T) {
		reg := startRegistry(t)
		ref, _ := name.ParseReference(reg+"/team/app:1", name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		for _, arg := range []string{reg + "/team/app:1", "registry:" + reg + "/team/app:1", "registry://" + reg + "/team/app:1"} {
			r := scanBerth(t, env, "scan", "--format", "json", arg)
			if r.code != 0 || !strings.Contains(r.stdout, "GO-2022-1059") {
				t.Fatalf("scan %s: exit %d\n%s", arg, r.code, r.stderr)
			}
			// --offline reads no registry.
			r = scanBerth(t, env, "scan", "--offline", "--format", "json", arg)
			if r.code == 0 || !strings.Contains(r.stderr, "--offline reads no registry") {
				t.Errorf("scan --offline %s: exit %d\n%s", arg, r.code, r.stderr)
			}
		}
		if r := scanBerth(t, env, "scan", "db", "push", reg+"/mirror/vulndb:latest"); r.code != 0 {
			t.Fatalf("db push: exit %d\n%s", r.code, r.stderr)
		}
		other := filepath.Join(t.TempDir(), "pulled.db")
		if r := scanBerth(t, env, "scan", "db", "pull", "--db", other, reg+"/mirror/vulndb:latest"); r.code != 0 {
			t.Fatalf("db pull: exit %d\n%s", r.code, r.stderr)
		}
		r = scanBerth(t, env, "scan", "--db", other, "--format", "json", archive)
		if r.code != 0 || !strings.Contains(r.stdout, "GO-2022-1059") {
			t.Errorf("scan with the pulled database: exit %d\n%s", r.code, r.stderr)
		}
		// Pulling an ordinary image is refused, and the database is kept.
		if r := scanBerth(t, env, "scan", "db", "pull", "--db", other, reg+"/team/app:1"); r.code != 2 || !strings.Contains(r.stderr, "not a berth vulnerability database") {
			t.Errorf("pulling an image as a database: exit %d %s", r.code, r.stderr)
		}
	})
}

// startRegistry runs the CNCF distribution registry on 127.0.0.1.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin := testenv.Peer(t, "docker-registry")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", dir, addr)), 0o644)
	cmd := exec.Command(bin, "serve", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("registry did not start on %s", addr)
	return ""
}

// findingIDs extracts the sorted "id package" pairs a report lists.
func findingIDs(t *testing.T, format string, data []byte) []string {
	t.Helper()
	var out []string
	switch format {
	case "json":
		var r struct {
			Results []struct {
				Vulnerabilities []struct{ VulnerabilityID, PkgName string }
			}
		}
		mustJSON(t, data, &r)
		for _, res := range r.Results {
			for _, v := range res.Vulnerabilities {
				out = append(out, v.VulnerabilityID+" "+v.PkgName)
			}
		}
	case "sarif":
		var r struct {
			Runs []struct {
				Results []struct {
					RuleID  string
					Message struct{ Text string }
				}
			}
		}
		mustJSON(t, data, &r)
		for _, res := range r.Runs[0].Results {
			pkg := strings.TrimPrefix(strings.SplitN(res.Message.Text, "\n", 2)[0], "Package: ")
			out = append(out, res.RuleID+" "+pkg)
		}
	case "cyclonedx":
		var r struct {
			Components []struct {
				BOMRef string `json:"bom-ref"`
				Name   string
			}
			Vulnerabilities []struct {
				ID      string
				Affects []struct{ Ref string }
			}
		}
		mustJSON(t, data, &r)
		names := map[string]string{}
		for _, c := range r.Components {
			names[c.BOMRef] = c.Name
		}
		for _, v := range r.Vulnerabilities {
			out = append(out, v.ID+" "+names[v.Affects[0].Ref])
		}
	case "spdx-json":
		var r struct {
			Packages []struct {
				Name         string
				ExternalRefs []struct{ ReferenceCategory, Comment string }
			}
		}
		mustJSON(t, data, &r)
		for _, p := range r.Packages {
			for _, e := range p.ExternalRefs {
				if e.ReferenceCategory == "SECURITY" {
					out = append(out, strings.Fields(e.Comment)[0]+" "+p.Name)
				}
			}
		}
	case "table":
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && regexp.MustCompile(`^[A-Z]+-`).MatchString(f[1]) {
				out = append(out, f[1]+" "+f[0])
			}
		}
	}
	sort.Strings(out)
	return out
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v\n%.500s", err, data)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, s+" ") || x == s {
			return true
		}
	}
	return false
}

// TestSystemPruneScanCache: system prune drops the scan inventories of
// layer stacks no local image has any more and shrinks the cache file;
// system prune -a empties it.
func TestSystemPruneScanCache(t *testing.T) {
	root := t.TempDir()
	env := []string{"BERTH_ROOT=" + root}
	dir := t.TempDir()
	chains := map[string][]string{}
	for _, n := range []string{"keep", "gone"} {
		img := scantest.Image(t,
			scantest.Step{CreatedBy: "ADD rootfs /", Files: []scantest.File{{Name: "etc/os-release", Data: scantest.DebianOSRelease}}},
			// Many npm packages make a large record, so the shrink shows.
			scantest.Step{CreatedBy: "COPY . /" + n, Files: npmPackages(n, 1000)},
		)
		archive := filepath.Join(dir, n+".tar")
		tag, _ := name.NewTag("example.com/" + n + ":1")
		if err := tarball.WriteToFile(archive, tag, img); err != nil {
			t.Fatal(err)
		}
		if r := scanBerth(t, env, "load", "-q", "-i", archive); r.code != 0 {
			t.Fatal(r.stderr)
		}
		if r := scanBerth(t, env, "sbom", "example.com/"+n+":1"); r.code != 0 {
			t.Fatalf("sbom %s: exit %d %s", n, r.code, r.stderr)
		}
		cfg, _ := img.ConfigFile()
		var diffIDs []string
		for _, d := range cfg.RootFS.DiffIDs {
			diffIDs = append(diffIDs, d.String())
		}
		chains[n] = scan.ChainIDs(diffIDs)
	}
	cache := filepath.Join(root, "scan", "layers.db")
	has := func(chain string) bool {
		t.Helper()
		db, err := bolt.Open(cache, 0o644, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		found := false
		db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("layers")).ForEach(func(k, _ []byte) error {
				found = found || strings.HasSuffix(string(k), " "+chain)
				return nil
			})
		})
		return found
	}
	if !has(chains["keep"][1]) || !has(chains["gone"][1]) {
		t.Fatal("sbom did not cache the layer inventories")
	}
	before, _ := os.Stat(cache)
	if r := scanBerth(t, env, "rmi", "example.com/gone:1"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := scanBerth(t, env, "system", "prune", "-f"); r.code != 0 {
		t.Fatalf("system prune: %s", r.stderr)
	}
	after, _ := os.Stat(cache)
	if has(chains["gone"][1]) || !has(chains["keep"][1]) || !has(chains["keep"][0]) {
		t.Fatalf("after prune: gone cached %v, keep cached %v/%v", has(chains["gone"][1]), has(chains["keep"][0]), has(chains["keep"][1]))
	}
	if after.Size() >= before.Size() {
		t.Errorf("cache file %d bytes before prune, %d after", before.Size(), after.Size())
	}
	if r := scanBerth(t, env, "system", "prune", "-a", "-f"); r.code != 0 {
		t.Fatalf("system prune -a: %s", r.stderr)
	}
	if has(chains["keep"][1]) {
		t.Fatal("system prune -a kept scan inventories")
	}
}

// npmPackages is n installed npm packages under /DIR/node_modules.
func npmPackages(dir string, n int) []scantest.File {
	fs := make([]scantest.File, n)
	for i := range fs {
		pkg := fmt.Sprintf("%s-pkg-%04d", dir, i)
		fs[i] = scantest.File{Name: dir + "/node_modules/" + pkg + "/package.json", Data: []byte(`{"name":"` + pkg + `","version":"1.0.` + fmt.Sprint(i) + `"}`)}
	}
	return fs
}
