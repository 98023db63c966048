package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// copyFile copies a host file into a test root filesystem.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Skipf("host file %s: %v", src, err)
	}
	writeFile(t, dst, data, 0o644)
}

func writeFile(t *testing.T, dst string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

// TestHostDpkgStatus: this machine's dpkg database inventories exactly the
// packages dpkg-query lists as installed.
func TestHostDpkgStatus(t *testing.T) {
	q, err := exec.LookPath("dpkg-query")
	if err != nil {
		t.Skip("dpkg-query not installed")
	}
	out, err := exec.Command(q, "-W", "-f", "${db:Status-Abbrev}${Package}\n").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "ii") || strings.HasPrefix(l, "hi") {
			want++
		}
	}
	root := t.TempDir()
	copyFile(t, "/var/lib/dpkg/status", filepath.Join(root, "var/lib/dpkg/status"))
	copyFile(t, "/etc/os-release", filepath.Join(root, "etc/os-release"))
	inv, err := DirInventory(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	eco := ""
	for _, p := range inv.Packages {
		if p.Extractor == "os/dpkg" {
			got++
			eco = p.Ecosystem
		}
	}
	if got != want || got == 0 {
		t.Fatalf("inventoried %d dpkg packages, dpkg-query lists %d installed", got, want)
	}
	if !strings.HasPrefix(eco, "Debian:") && !strings.HasPrefix(eco, "Ubuntu:") {
		t.Errorf("ecosystem %q has no distribution release", eco)
	}
	t.Logf("%d packages, ecosystem %s, os %q", got, eco, inv.OS)
}

// TestEcosystemsInventoried: distroless status.d, Python dist-info and egg,
// Java archives and npm package.json are all inventoried, each with the
// osv-scalibr extractor that owns it.
func TestEcosystemsInventoried(t *testing.T) {
	root := t.TempDir()
	var jar bytes.Buffer
	zw := zip.NewWriter(&jar)
	w, _ := zw.Create("META-INF/maven/org.example/lib/pom.properties")
	w.Write([]byte("groupId=org.example\nartifactId=lib\nversion=1.2.3\n"))
	w, _ = zw.Create("META-INF/MANIFEST.MF")
	w.Write([]byte("Manifest-Version: 1.0\n"))
	zw.Close()
	files := map[string][]byte{
		"etc/os-release":                                                    []byte("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Distroless\"\n"),
		"var/lib/dpkg/status.d/base":                                        []byte("Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\nSource: base-files\n"),
		"var/lib/dpkg/status.d/libssl3":                                     []byte("Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n"),
		"var/lib/dpkg/status.d/libssl3.md5sums":                             []byte("d41d8cd98f00b204e9800998ecf8427e  usr/lib/libssl.so.3\n"),
		"usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA":  []byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n"),
		"usr/lib/python3/site-packages/six-1.16.0-py3.11.egg-info/PKG-INFO": []byte("Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n"),
		"app/lib/lib-1.2.3.jar":                                             jar.Bytes(),
		"app/node_modules/express/package.json":                             []byte(`{"name":"express","version":"4.18.2"}`),
	}
	for p, d := range files {
		writeFile(t, filepath.Join(root, p), d, 0o644)
	}
	inv, err := DirInventory(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range inv.Packages {
		got[p.Name+"@"+p.Version] = p.Extractor + " " + p.Ecosystem
	}
	want := map[string]string{
		"base-files@12.4+deb12u5":  "os/dpkg Debian:12",
		"libssl3@3.0.11-1~deb12u2": "os/dpkg Debian:12",
		"requests@2.31.0":          "python/wheelegg PyPI",
		"six@1.16.0":               "python/wheelegg PyPI",
		"org.example:lib@1.2.3":    "java/archive Maven",
		"express@4.18.2":           "javascript/packagejson npm",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("inventory %v, want %v", got, want)
	}
}

// TestRPMDatabase inventories an rpm database written by the real rpm:
// a package built with rpmbuild and recorded with rpm --justdb.
func TestRPMDatabase(t *testing.T) {
	rpm := testenv.Peer(t, "rpm")
	rpmbuild := testenv.Peer(t, "rpmbuild")
	top := t.TempDir()
	spec := filepath.Join(top, "berthtest.spec")
	writeFile(t, spec, []byte("Name: berthtest\nVersion: 1.2.3\nRelease: 4.el9\nSummary: test\nLicense: MIT\nBuildArch: noarch\n%description\ntest\n%files\n"), 0o644)
	if out, err := exec.Command(rpmbuild, "--define", "_topdir "+top, "-bb", spec).CombinedOutput(); err != nil {
		t.Fatalf("rpmbuild: %v\n%s", err, out)
	}
	root := t.TempDir()
	dbdir := filepath.Join(root, "var/lib/rpm")
	os.MkdirAll(dbdir, 0o755)
	pkg := filepath.Join(top, "RPMS/noarch/berthtest-1.2.3-4.el9.noarch.rpm")
	for _, args := range [][]string{{"--dbpath", dbdir, "--initdb"}, {"--dbpath", dbdir, "-i", "--justdb", "--nodeps", "--ignoreos", "--ignorearch", pkg}} {
		if out, err := exec.Command(rpm, args...).CombinedOutput(); err != nil {
			t.Fatalf("rpm %v: %v\n%s", args, err, out)
		}
	}
	writeFile(t, filepath.Join(root, "etc/os-release"), []byte("NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky Linux 9.3\"\n"), 0o644)
	inv, err := DirInventory(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, p := range inv.Packages {
		found = append(found, p.Extractor+" "+p.Name+"@"+p.Version+" "+p.Ecosystem)
	}
	want := "os/rpm berthtest@1.2.3-4.el9 Rocky Linux:9"
	if len(found) != 1 || !strings.HasPrefix(found[0], "os/rpm berthtest@1.2.3-4.el9") {
		t.Fatalf("inventory %q, want %q", found, want)
	}
	t.Logf("%s", found[0])
}
