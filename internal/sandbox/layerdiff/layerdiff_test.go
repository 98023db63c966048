package layerdiff

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func names(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		s := h.Name
		if h.Typeflag == tar.TypeLink {
			s += "=>" + h.Linkname
		}
		out = append(out, s)
	}
}

func write(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOverlay converts a hand-made upper dir: whiteout devices, an opaque
// dir, hard links, and a copied-up dir with no change that must be dropped.
func TestOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("whiteout devices and trusted xattrs in a plain dir need root")
	}
	lower, upper := t.TempDir(), t.TempDir()
	write(t, filepath.Join(lower, "same/f"), "1")
	write(t, filepath.Join(lower, "keep/x"), "x")
	os.Mkdir(filepath.Join(upper, "same"), 0o755) // copy-up only: same metadata as below
	var st unix.Stat_t
	unix.Lstat(filepath.Join(lower, "same"), &st)
	os.Chmod(filepath.Join(upper, "same"), os.FileMode(st.Mode&0o777))
	unix.UtimesNano(filepath.Join(upper, "same"), []unix.Timespec{st.Atim, st.Mtim})
	if err := unix.Mknod(filepath.Join(upper, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, "opq/new"), "n")
	unix.Lsetxattr(filepath.Join(upper, "opq"), "trusted.overlay.opaque", []byte("y"), 0)
	write(t, filepath.Join(upper, "a/one"), "hl")
	os.Link(filepath.Join(upper, "a/one"), filepath.Join(upper, "a/two"))
	var buf bytes.Buffer
	if err := Overlay(context.Background(), &buf, upper, []string{lower}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names(t, buf.Bytes()), " ")
	want := "a/ a/one a/two=>a/one .wh.gone opq/ opq/.wh..wh..opq opq/new"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestCompare finds the same kinds of change by comparison.
func TestCompare(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "keep/x"), "x")
	write(t, filepath.Join(root, "mod"), "1")
	write(t, filepath.Join(root, "del"), "d")
	write(t, filepath.Join(root, "redo/old"), "o")
	ctx := context.Background()
	before, err := Scan(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "mod"), "22")
	os.Remove(filepath.Join(root, "del"))
	os.RemoveAll(filepath.Join(root, "redo"))
	write(t, filepath.Join(root, "redo/new"), "n")
	write(t, filepath.Join(root, "a/one"), "hl")
	os.Link(filepath.Join(root, "a/one"), filepath.Join(root, "a/two"))
	l, err := net.Listen("unix", filepath.Join(root, "a/sock")) // dropped: tar has no sockets
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var buf bytes.Buffer
	if err := Compare(ctx, &buf, root, before); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names(t, buf.Bytes()), " ")
	want := "a/ a/one a/two=>a/one .wh.del mod redo/ redo/.wh..wh..opq redo/new"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
