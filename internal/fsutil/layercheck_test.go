package fsutil

import (
	"archive/tar"
	"strings"
	"testing"
)

func TestLayerChecker(t *testing.T) {
	type e struct {
		name string
		typ  byte
		link string
	}
	for _, tc := range []struct {
		name      string
		whiteouts bool
		entries   []e
		want      string // error substring on the last entry; "" for all accepted
	}{
		{"a plain tree", false, []e{{"./", tar.TypeDir, ""}, {"bin/", tar.TypeDir, ""}, {"bin/busybox", tar.TypeReg, ""}, {"bin/sh", tar.TypeSymlink, "busybox"}, {"bin/ln", tar.TypeLink, "bin/busybox"}, {"etc/abs", tar.TypeSymlink, "/etc/passwd"}}, ""},
		{"a symlink replaced by a directory", false, []e{{"x", tar.TypeSymlink, "/tmp"}, {"x/", tar.TypeDir, ""}, {"x/f", tar.TypeReg, ""}}, ""},
		{"a directory replaced by a file takes its children", false, []e{{"d/", tar.TypeDir, ""}, {"d/f", tar.TypeReg, ""}, {"d", tar.TypeReg, ""}, {"h", tar.TypeLink, "d/f"}}, "not a directory inside the layer (it is a file)"},
		{"below a symlink", false, []e{{"x", tar.TypeSymlink, "."}, {"x/y/z", tar.TypeReg, ""}}, `parent "x" is not a directory inside the layer (it is a symlink)`},
		{"hard link to a directory", false, []e{{"d/", tar.TypeDir, ""}, {"h", tar.TypeLink, "d"}}, "not an earlier file"},
		{"hard link out", false, []e{{"h", tar.TypeLink, "../x"}}, "outside the layer"},
		{"dot dot", false, []e{{"a/../../x", tar.TypeReg, ""}}, "escapes the root"},
		{"whiteouts in a layer", true, []e{{"a/.wh.b", tar.TypeReg, ""}, {"c/.wh..wh..opq", tar.TypeReg, ""}}, ""},
		{"a whiteout in a root filesystem", false, []e{{"a/.wh.b", tar.TypeReg, ""}}, "OCI whiteout"},
		{"an empty whiteout", true, []e{{"a/.wh.", tar.TypeReg, ""}}, "invalid whiteout name"},
		{"a dot-dot whiteout", true, []e{{"a/.wh..", tar.TypeReg, ""}}, "invalid whiteout name"},
		{"too long", false, []e{{strings.Repeat("a/", 2049), tar.TypeReg, ""}}, "more than Linux allows (4095)"},
		{"a long symlink target", false, []e{{"l", tar.TypeSymlink, strings.Repeat("x", 5000)}}, "symlink target is 5000 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := LayerChecker{Whiteouts: tc.whiteouts}
			var err error
			for i, en := range tc.entries {
				_, err = c.Check(&tar.Header{Name: en.name, Typeflag: en.typ, Linkname: en.link})
				if err != nil && i != len(tc.entries)-1 {
					t.Fatalf("entry %d refused: %v", i, err)
				}
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error repeats the input: %d bytes", len(err.Error()))
			}
		})
	}
}

func FuzzLayerChecker(f *testing.F) {
	f.Add("a/b", "l", byte(tar.TypeSymlink), "a/b/c")
	f.Add("x/.wh.y", "", byte(tar.TypeReg), "x/y/z")
	f.Fuzz(func(t *testing.T, n1, link string, typ byte, n2 string) {
		c := LayerChecker{Whiteouts: true}
		if _, err := c.Check(&tar.Header{Name: n1, Linkname: link, Typeflag: typ}); err != nil {
			return
		}
		name, err := c.Check(&tar.Header{Name: n2, Typeflag: tar.TypeReg})
		if err != nil {
			return
		}
		if CheckTarPath(name) != nil && name != "" || len(name) > maxPath {
			t.Fatalf("accepted %q", name)
		}
	})
}
