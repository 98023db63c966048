package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "a/b"), 0o755)
	os.WriteFile(filepath.Join(root, "a/b/f"), nil, 0o644)
	os.Symlink("b", filepath.Join(root, "a/inside"))
	os.Symlink("../../..", filepath.Join(root, "a/up"))
	os.Symlink("/etc", filepath.Join(root, "abs"))
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"a/b/f", "a/b/f", true},
		{"a/inside/f", "a/b/f", true},
		{"/a/b", "a/b", true}, // absolute names are taken inside root
		{"a/b/../b/f", "a/b/f", true},
		{"..", "", false},
		{"a/../../x", "", false},
		{"a/up", "", false},
		{"abs", "", false},
		{"missing", "", false},
	} {
		got, err := ResolveIn(root, tc.name)
		if !tc.ok {
			if err == nil {
				t.Errorf("ResolveIn(%q) = %q, want an error", tc.name, got)
			}
			continue
		}
		real, _ := filepath.EvalSymlinks(root)
		if err != nil || got != filepath.Join(real, tc.want) {
			t.Errorf("ResolveIn(%q) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// TestResolveInRoot: links resolve as inside a container whose root is
// root: absolute ones and ".." above the top stay in it.
func TestResolveInRoot(t *testing.T) {
	root := t.TempDir()
	host := t.TempDir() // stands for the host's files outside the root
	os.WriteFile(filepath.Join(host, "secret"), []byte("host"), 0o600)
	os.MkdirAll(filepath.Join(root, "a/b"), 0o755)
	os.WriteFile(filepath.Join(root, "a/b/f"), nil, 0o644)
	os.Symlink("b", filepath.Join(root, "a/inside"))
	os.Symlink("../../..", filepath.Join(root, "a/up"))
	os.Symlink("/", filepath.Join(root, "hostroot"))
	os.Symlink(host, filepath.Join(root, "hostdir"))
	os.Symlink(filepath.Join(host, "secret"), filepath.Join(root, "hostfile"))
	os.Symlink("/a/b", filepath.Join(root, "abs"))
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"a/b/f", "a/b/f", true},
		{"a/inside/f", "a/b/f", true},
		{"/a/b", "a/b", true},
		{"..", "", true},
		{"a/up", "", true},
		{"a/up/a/b/f", "a/b/f", true},
		{"hostroot", "", true},
		{"hostroot/a/b", "a/b", true},
		{"abs/f", "a/b/f", true},
		{"hostdir", "", false},
		{"hostdir/secret", "", false},
		{"hostfile", "", false},
		{"missing", "", false},
	} {
		got, err := ResolveInRoot(root, tc.name)
		if !tc.ok {
			if err == nil {
				t.Errorf("ResolveInRoot(%q) = %q, want an error", tc.name, got)
			}
			continue
		}
		real, _ := filepath.EvalSymlinks(root)
		if err != nil || got != filepath.Join(real, tc.want) {
			t.Errorf("ResolveInRoot(%q) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestCleanTarName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"a/b", "a/b", true},
		{"./a/b", "a/b", true},
		{"/abs/x", "abs/x", true}, // GNU tar's absolute names are relative to the root
		{"a//b/", "a/b", true},
		{"./", "", true},
		{"/", "", true},
		{".", "", true},
		{"a/./b", "a/b", true},
		{"...", "...", true},
		{"", "", false},
		{"../x", "", false},
		{"a/../../x", "", false},
		{"a/..", "", false},
		{"/../etc", "", false},
		{"a\x00b", "", false},
	} {
		got, err := CleanTarName(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CleanTarName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
