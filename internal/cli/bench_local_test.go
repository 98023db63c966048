package cli_test

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// BenchmarkImages1000 times `berth images` (a whole process) on a store
// holding 1,000 images. Target: under 50 ms.
func BenchmarkImages1000(b *testing.B) {
	root := b.TempDir()
	mk := exec.Command("go", "run", "./bench/mkimages", "-n", "1000", root)
	mk.Dir = testenv.ModuleRoot(b)
	if out, err := mk.CombinedOutput(); err != nil {
		b.Fatalf("bench/mkimages: %v\n%s", err, out)
	}
	bin := testenv.Berth(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := exec.Command(bin, "--root", root, "images").Output()
		if err != nil || bytes.Count(out, []byte("\n")) != 1001 {
			b.Fatalf("images: %v (%d lines)", err, bytes.Count(out, []byte("\n")))
		}
	}
}
