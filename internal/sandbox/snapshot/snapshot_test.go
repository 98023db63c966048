package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testenv"
)

type entry struct {
	name string
	typ  byte
	mode int64
	body string
	link string
}

func mkTar(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: time.Unix(1700000000, 0)}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

func hashOf(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func TestExtract(t *testing.T) {
	good := []entry{
		{name: "a/", typ: tar.TypeDir, mode: 0o750},
		{name: "a/f", typ: tar.TypeReg, mode: 0o4755, body: "hello"},
		{name: "a/h", typ: tar.TypeLink, link: "a/f"},
		{name: "a/s", typ: tar.TypeSymlink, link: "/etc/passwd"},
		{name: "./b/c/d", typ: tar.TypeReg, mode: 0o644, body: "implicit parents"},
		{name: "gone/.wh..wh..opq", typ: tar.TypeReg},
		{name: ".wh.deleted", typ: tar.TypeReg},
		{name: "p", typ: tar.TypeFifo, mode: 0o600},
	}
	tests := []struct {
		name    string
		entries []entry
		wantErr string
		check   func(t *testing.T, dir string)
	}{
		{name: "layer with every kind", entries: good, check: func(t *testing.T, dir string) {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(dir, "a/f"), &st); err != nil || st.Mode&0o7777 != 0o4755 || st.Nlink != 2 {
				t.Errorf("a/f: %+v %v", st, err)
			}
			if l, _ := os.Readlink(filepath.Join(dir, "a/s")); l != "/etc/passwd" {
				t.Errorf("symlink target %q", l)
			}
			if err := unix.Lstat(filepath.Join(dir, "deleted"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				t.Errorf("whiteout is not a 0/0 char device: %+v %v", st, err)
			}
			buf := make([]byte, 2)
			if n, err := unix.Lgetxattr(filepath.Join(dir, "gone"), "user.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
				t.Errorf("opaque xattr missing: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "b/c/d")); string(b) != "implicit parents" {
				t.Errorf("b/c/d = %q", b)
			}
			if fi, _ := os.Lstat(filepath.Join(dir, "a")); fi.Mode().Perm() != 0o750 || !fi.ModTime().Equal(time.Unix(1700000000, 0)) {
				t.Errorf("dir a: mode %v mtime %v", fi.Mode(), fi.ModTime())
			}
		}},
		{name: "dot dot", entries: []entry{{name: "../evil", typ: tar.TypeReg, body: "x"}}, wantErr: `refusing layer: entry "../evil" escapes the root`},
		{name: "nested dot dot", entries: []entry{{name: "a/../../evil", typ: tar.TypeReg, body: "x"}}, wantErr: `refusing layer: entry "a/../../evil" escapes the root`},
		{name: "write through symlink", entries: []entry{{name: "l", typ: tar.TypeSymlink, link: "/tmp"}, {name: "l/evil", typ: tar.TypeReg, body: "x"}}, wantErr: "not a directory inside"},
		{name: "write through relative symlink", entries: []entry{{name: "l", typ: tar.TypeSymlink, link: "../../.."}, {name: "l/evil", typ: tar.TypeReg, body: "x"}}, wantErr: "not a directory inside"},
		{name: "hard link outside", entries: []entry{{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}}, wantErr: "outside the layer"},
		{name: "hard link through symlink", entries: []entry{{name: "l", typ: tar.TypeSymlink, link: "/etc"}, {name: "h", typ: tar.TypeLink, link: "l/passwd"}}, wantErr: "hard link target"},
		{name: "read-only dir with children", entries: []entry{{name: "ro/", typ: tar.TypeDir, mode: 0o555}, {name: "ro/f", typ: tar.TypeReg, mode: 0o444, body: "r"}}, check: func(t *testing.T, dir string) {
			if fi, err := os.Stat(filepath.Join(dir, "ro")); err != nil || fi.Mode().Perm() != 0o555 {
				t.Errorf("ro: %v %v", fi, err)
			}
			os.Chmod(filepath.Join(dir, "ro"), 0o755) // let t.TempDir clean up
		}},
		{name: "replace file by dir and back", entries: []entry{{name: "x", typ: tar.TypeReg, body: "1"}, {name: "x/", typ: tar.TypeDir, mode: 0o755}, {name: "x/y", typ: tar.TypeReg, mode: 0o644, body: "2"}}, check: func(t *testing.T, dir string) {
			if b, _ := os.ReadFile(filepath.Join(dir, "x/y")); string(b) != "2" {
				t.Errorf("x/y = %q", b)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			dir := filepath.Join(outside, "layer")
			os.Mkdir(dir, 0o755)
			err := Extract(context.Background(), dir, bytes.NewReader(mkTar(t, tc.entries)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(filepath.Join(outside, "evil")); err == nil {
				t.Errorf("a file was written outside the layer")
			}
			if tc.check != nil {
				tc.check(t, dir)
			}
		})
	}
}

func TestUnpack(t *testing.T) {
	layer := mkTar(t, []entry{{name: "f", typ: tar.TypeReg, mode: 0o644, body: "content"}})
	ctx := context.Background()
	t.Run("concurrent unpacks share one dir", func(t *testing.T) {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		dirs := make([]string, 4)
		errs := make([]error, 4)
		for i := range dirs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				dirs[i], errs[i] = s.Unpack(ctx, hashOf(layer), bytes.NewReader(layer))
			}(i)
		}
		wg.Wait()
		for i := range dirs {
			if errs[i] != nil || dirs[i] != dirs[0] {
				t.Fatalf("unpack %d: %q %v", i, dirs[i], errs[i])
			}
		}
		if d, ok := s.Lookup(hashOf(layer)); !ok || d != dirs[0] {
			t.Errorf("Lookup = %q %v", d, ok)
		}
		ents, _ := os.ReadDir(s.root)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "tmp-") {
				t.Errorf("temp dir left: %s", e.Name())
			}
		}
		if err := s.Remove(ctx, hashOf(layer)); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Lookup(hashOf(layer)); ok {
			t.Errorf("layer still there after Remove")
		}
	})
	t.Run("digest mismatch", func(t *testing.T) {
		s, _ := New(t.TempDir())
		wrong := hashOf([]byte("other"))
		if _, err := s.Unpack(ctx, wrong, bytes.NewReader(layer)); err == nil || !strings.Contains(err.Error(), "corrupt") {
			t.Fatalf("err = %v", err)
		}
		if _, ok := s.Lookup(wrong); ok {
			t.Errorf("corrupt layer was published")
		}
	})
	t.Run("bad digest", func(t *testing.T) {
		s, _ := New(t.TempDir())
		if _, err := s.Unpack(ctx, v1.Hash{Algorithm: "sha256", Hex: "../../x"}, bytes.NewReader(layer)); err == nil {
			t.Fatal("accepted a malformed digest")
		}
	})
}

// FuzzExtract feeds arbitrary tars to Extract: it may fail, but must never
// panic or write outside the directory.
func FuzzExtract(f *testing.F) {
	for _, s := range testenv.HostileTars(f) {
		f.Add(s)
	}
	f.Add(mkTar(f, []entry{{name: "a/b", typ: tar.TypeReg, body: "x"}, {name: "a/.wh.c", typ: tar.TypeReg}}))
	f.Add(mkTar(f, []entry{{name: "l", typ: tar.TypeSymlink, link: ".."}, {name: "l/x", typ: tar.TypeReg, body: "x"}}))
	f.Add(mkTar(f, []entry{{name: "h", typ: tar.TypeLink, link: "../x"}}))
	f.Add(mkTar(f, []entry{{name: "d/", typ: tar.TypeDir}, {name: "d/.wh..wh..opq", typ: tar.TypeReg}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		outside := t.TempDir()
		dir := filepath.Join(outside, "layer")
		os.Mkdir(dir, 0o755)
		_ = Extract(context.Background(), dir, bytes.NewReader(data))
		ents, _ := os.ReadDir(outside)
		if len(ents) != 1 {
			t.Fatalf("wrote outside the layer: %v", ents)
		}
	})
}

// TestUnpackBesideSweeps: unpacks in one process while other berth
// processes open the store (each open sweeps dead tmp-* directories) never
// lose their temp directory. Before the lock was taken ahead of the
// directory, a sweep that listed a fresh tmp-* before its owner had locked
// it deleted it from under the unpack.
func TestUnpackBesideSweeps(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	// Bounded by count and time: 300 unpacks, or what 10 s allow on a
	// loaded machine under the race detector.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := New(root); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	unpacks := 0
	for ; ctx.Err() == nil && unpacks < 300; unpacks++ {
		body := mkTar(t, []entry{{name: "f", typ: tar.TypeReg, mode: 0o644, body: strings.Repeat("x", unpacks)}})
		sum := sha256.Sum256(body)
		id := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
		if _, err := s.Unpack(context.Background(), id, bytes.NewReader(body)); err != nil {
			t.Fatalf("unpack %d beside sweeps: %v", unpacks, err)
		}
		if err := s.Remove(context.Background(), id); err != nil {
			t.Fatalf("remove %d beside sweeps: %v", unpacks, err)
		}
	}
	cancel()
	wg.Wait()
	if unpacks < 20 {
		t.Fatalf("only %d unpacks in the time: the test proves nothing", unpacks)
	}
	left, _ := filepath.Glob(filepath.Join(root, "tmp-*"))
	if len(left) != 0 {
		t.Errorf("temp entries left: %v", left)
	}
}
