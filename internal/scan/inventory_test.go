package scan

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
