package cli

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// TestSandboxExec runs RUN steps through the built berth binary, which
// exercises the re-exec hook at the top of cmd/berth's main.
func TestSandboxExec(t *testing.T) {
	berth := testenv.Berth(t)
	bb, err := os.ReadFile(testenv.BusyboxStatic(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	tw.Close()
	if err := os.WriteFile(base, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, script string
		code         int
		wantLayer    []string
	}{
		{"success", "echo hi > /f; echo out", 0, []string{"f"}},
		{"exit code", "echo failing >&2; exit 7", 7, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "layer.tar")
			cmd := exec.Command(berth, "sandbox-exec", "--base", base, "--layer", out, "--", "/bin/sh", "-c", tc.script)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, stderr.String())
			}
			if tc.code != 0 {
				if !strings.Contains(stderr.String(), "failing") {
					t.Errorf("command stderr not shown: %q", stderr.String())
				}
				return
			}
			if stdout.String() != "out\n" {
				t.Errorf("stdout %q", stdout.String())
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var names []string
			tr := tar.NewReader(f)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, h.Name)
			}
			if strings.Join(names, " ") != strings.Join(tc.wantLayer, " ") {
				t.Errorf("layer %v, want %v", names, tc.wantLayer)
			}
		})
	}
}
