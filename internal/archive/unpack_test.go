package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type hostileEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func hostileTar(t *testing.T, ents []hostileEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, ModTime: time.Unix(1000000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
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

// TestUnpackHostile: whatever a tar holds, Unpack touches nothing outside
// its directory: not through "..", a symlink replaced by a file or a
// directory of the same name, a symlink above an entry, nor a hard link to
// a symlink whose metadata would be set through it.
func TestUnpackHostile(t *testing.T) {
	oldTime := time.Unix(1500000000, 0)
	for _, tc := range []struct {
		name string
		ents func(host string) []hostileEntry
		err  string            // "" when the archive is fine
		want map[string]string // path in dest → content ("->X" for a link to X)
	}{
		{"dot-dot", func(string) []hostileEntry { return []hostileEntry{{name: "../escaped", body: "x"}} }, "escapes the root", nil},
		{"dot-dot deeper", func(string) []hostileEntry { return []hostileEntry{{name: "a/../../escaped", body: "x"}} }, "escapes the root", nil},
		{"absolute name stays inside", func(string) []hostileEntry {
			return []hostileEntry{{name: "/etc/abs", body: "inside"}}
		}, "", map[string]string{"etc/abs": "inside"}},
		{"file over a link to a host file", func(host string) []hostileEntry {
			return []hostileEntry{{name: "x", typ: tar.TypeSymlink, link: filepath.Join(host, "victim")}, {name: "x", body: "pwned", mode: 0o777}}
		}, "", map[string]string{"x": "pwned"}},
		{"directory over a link to a host directory", func(host string) []hostileEntry {
			return []hostileEntry{{name: "d", typ: tar.TypeSymlink, link: host}, {name: "d", typ: tar.TypeDir, mode: 0o777}}
		}, "", map[string]string{}},
		{"file under a link to a host directory", func(host string) []hostileEntry {
			return []hostileEntry{{name: "d", typ: tar.TypeSymlink, link: host}, {name: "d/victim", body: "pwned"}}
		}, "passes through the symlink d", nil},
		{"file under a relative link out", func(string) []hostileEntry {
			return []hostileEntry{{name: "d", typ: tar.TypeSymlink, link: "../../.."}, {name: "d/x", body: "pwned"}}
		}, "passes through the symlink d", nil},
		{"hard link out", func(string) []hostileEntry {
			return []hostileEntry{{name: "h", typ: tar.TypeLink, link: "../victim"}}
		}, "outside the archive", nil},
		{"hard link to a link to a host file", func(host string) []hostileEntry {
			return []hostileEntry{{name: "l", typ: tar.TypeSymlink, link: filepath.Join(host, "victim")}, {name: "h", typ: tar.TypeLink, link: "l", mode: 0o777}}
		}, "", map[string]string{"l": "->" + "HOST/victim", "h": "->" + "HOST/victim"}},
		{"hard link through a link to a host directory", func(host string) []hostileEntry {
			return []hostileEntry{{name: "d", typ: tar.TypeSymlink, link: host}, {name: "h", typ: tar.TypeLink, link: "d/victim"}}
		}, "passes through the symlink d", nil},
		{"link replaced by a link", func(host string) []hostileEntry {
			return []hostileEntry{{name: "l", typ: tar.TypeSymlink, link: host}, {name: "l", typ: tar.TypeSymlink, link: "elsewhere"}}
		}, "", map[string]string{"l": "->elsewhere"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := t.TempDir()
			victim := filepath.Join(host, "victim")
			if err := os.WriteFile(victim, []byte("host data"), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(victim, oldTime, oldTime)
			os.Chmod(host, 0o700)
			dest := filepath.Join(t.TempDir(), "dest")
			err := Unpack(context.Background(), bytes.NewReader(hostileTar(t, tc.ents(host))), dest, UnpackOptions{Owners: true})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			// The host's files are as they were.
			fi, err := os.Stat(victim)
			if data, _ := os.ReadFile(victim); err != nil || string(data) != "host data" || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(oldTime) {
				t.Fatalf("the host file changed: %q %v %v", data, fi.Mode(), fi.ModTime())
			}
			if fi, _ := os.Stat(host); fi.Mode().Perm() != 0o700 {
				t.Fatalf("the host directory's mode became %v", fi.Mode())
			}
			ents, _ := os.ReadDir(host)
			if len(ents) != 1 {
				t.Fatalf("the host directory holds %d entries", len(ents))
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(dest), "escaped")); err == nil {
				t.Fatal("an entry was written beside the destination")
			}
			for name, want := range tc.want {
				p := filepath.Join(dest, name)
				if l, ok := strings.CutPrefix(want, "->"); ok {
					got, err := os.Readlink(p)
					if err != nil || got != strings.Replace(l, "HOST", host, 1) {
						t.Errorf("%s: link to %q (%v), want %q", name, got, err, l)
					}
					continue
				}
				got, err := os.ReadFile(p)
				if err != nil || string(got) != want {
					t.Errorf("%s = %q (%v), want %q", name, got, err, want)
				}
			}
		})
	}
}
