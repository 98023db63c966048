package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// noEscape checks that nothing but dir was made in its parent, and that no
// link inside dir was written through: the host files beside it are intact.
func noEscape(t *testing.T, parent, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		if e.Name() != filepath.Base(dir) && e.Name() != "victim" {
			t.Fatalf("the archive created %s outside its directory", e.Name())
		}
	}
	if b, err := os.ReadFile(filepath.Join(parent, "victim")); err != nil || string(b) != "host" {
		t.Fatalf("a host file beside the directory changed: %q %v", b, err)
	}
}

// FuzzReadContext is the build context read from stdin or a URL
// (`berth build - < ctx.tar.gz`, `berth build https://…/ctx.tar`): the
// bytes are decompressed as found, and a tar is unpacked with Unpack.
// Whatever they hold, nothing may be written outside the directory.
func FuzzReadContext(f *testing.F) {
	for _, s := range testenv.HostileTars(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		os.WriteFile(filepath.Join(parent, "victim"), []byte("host"), 0o644)
		dir := filepath.Join(parent, "context")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_, _, _ = ReadContext(context.Background(), bytes.NewReader(data), dir, 1<<20)
		noEscape(t, parent, dir)
	})
}
