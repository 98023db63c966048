package scan_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/scan/scantest"
	"github.com/berth-dev/berth/internal/testenv"
)

func dpkgStanza(name, version string) string {
	return "Package: " + name + "\nStatus: install ok installed\nVersion: " + version + "\nArchitecture: amd64\nDescription: test\n\n"
}

// TestLayerAttributionAndWhiteouts: packages keep the layer that first added
// them; a whiteout or an opaque directory removes what lower layers held.
func TestLayerAttributionAndWhiteouts(t *testing.T) {
	base := dpkgStanza("base-files", "12.4") + dpkgStanza("zlib1g", "1:1.2.13.dfsg-1")
	img := scantest.Image(t,
		scantest.Step{CreatedBy: "ADD rootfs /", Files: []scantest.File{
			{Name: "etc/os-release", Data: scantest.DebianOSRelease},
			{Name: "var/lib/dpkg/status", Data: []byte(base)},
			{Name: "app/node_modules/a/package.json", Data: []byte(`{"name":"a","version":"1.0.0"}`)},
			{Name: "opt/node_modules/b/package.json", Data: []byte(`{"name":"b","version":"1.0.0"}`)},
		}},
		scantest.Step{CreatedBy: "RUN apt-get install curl", Files: []scantest.File{
			{Name: "var/lib/dpkg/status", Data: []byte(base + dpkgStanza("curl", "7.88.1-10"))},
		}},
		scantest.Step{CreatedBy: "RUN rm -rf /app/node_modules/a && upgrade zlib", Files: []scantest.File{
			{Name: "app/node_modules/.wh.a"},
			{Name: "opt/node_modules/.wh..wh..opq"},
			{Name: "var/lib/dpkg/status", Data: []byte(dpkgStanza("base-files", "12.4") + dpkgStanza("zlib1g", "1:1.2.13.dfsg-2") + dpkgStanza("curl", "7.88.1-10"))},
		}},
	)
	layers, err := scan.LayersFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := scan.ImageInventory(context.Background(), layers, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, p := range inv.Packages {
		got[p.Name+"@"+p.Version] = p.Layer.Index
	}
	want := map[string]int{"base-files@12.4": 0, "curl@7.88.1-10": 1, "zlib1g@1:1.2.13.dfsg-2": 2}
	if len(got) != len(want) {
		t.Errorf("packages %v, want %v", got, want)
	}
	for k, l := range want {
		if g, ok := got[k]; !ok || g != l {
			t.Errorf("%s in layer %d (present %v), want layer %d", k, g, ok, l)
		}
	}
	if inv.OS != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("OS %q", inv.OS)
	}
}

// hostileLayer builds a raw layer tar that scantest's well-formed builder
// would refuse to write.
func hostileLayer(t *testing.T, entries []tar.Header, bodies [][]byte) scan.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, h := range entries {
		h := h
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if i < len(bodies) && bodies[i] != nil {
			if _, err := tw.Write(bodies[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	tw.Close()
	data := buf.Bytes()
	return scan.Layer{DiffID: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 63) + "1"}, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}}
}

// TestHostileLayers: malformed and oversized package databases, escaping
// paths and truncated tars give warnings or a clean error, never a crash,
// and nothing is left in the temporary directory.
func TestHostileLayers(t *testing.T) {
	garbage := bytes.Repeat([]byte("\x00\xff:\n"), 1<<20)
	bigStatus := []byte(strings.Repeat(dpkgStanza("p", "1"), 1) + strings.Repeat("X-Junk: "+strings.Repeat("a", 1000)+"\n", 20000))
	fakeGo := append([]byte("\x7fELF"), append(bytes.Repeat([]byte{0}, 100), []byte("\xff Go buildinf:\x08\x02garbage")...)...)
	tests := []struct {
		name    string
		entries []tar.Header
		bodies  [][]byte
		wantErr bool
	}{
		{name: "garbage dpkg status", entries: []tar.Header{{Name: "var/lib/dpkg/status", Mode: 0o644, Size: int64(len(garbage)), Typeflag: tar.TypeReg}}, bodies: [][]byte{garbage}},
		{name: "huge dpkg stanza spooled", entries: []tar.Header{{Name: "var/lib/dpkg/status", Mode: 0o644, Size: int64(len(bigStatus)), Typeflag: tar.TypeReg}}, bodies: [][]byte{bigStatus}},
		{name: "garbage apk db", entries: []tar.Header{{Name: "lib/apk/db/installed", Mode: 0o644, Size: int64(len(garbage)), Typeflag: tar.TypeReg}}, bodies: [][]byte{garbage}},
		{name: "truncated go binary", entries: []tar.Header{{Name: "bin/app", Mode: 0o755, Size: int64(len(fakeGo)), Typeflag: tar.TypeReg}}, bodies: [][]byte{fakeGo}},
		{name: "garbage rpm db", entries: []tar.Header{{Name: "var/lib/rpm/rpmdb.sqlite", Mode: 0o644, Size: 4096, Typeflag: tar.TypeReg}}, bodies: [][]byte{bytes.Repeat([]byte("x"), 4096)}},
		{name: "garbage jar", entries: []tar.Header{{Name: "app/x.jar", Mode: 0o644, Size: 4, Typeflag: tar.TypeReg}}, bodies: [][]byte{[]byte("PK\x03\x04")}},
		{name: "bad package.json", entries: []tar.Header{{Name: "node_modules/x/package.json", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg}}, bodies: [][]byte{[]byte("{{{{{")}},
		{name: "escaping names", entries: []tar.Header{
			{Name: "../../etc/os-release", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg},
			{Name: "etc/os-release", Linkname: "../../../../host", Typeflag: tar.TypeSymlink},
			{Name: "var/lib/dpkg/status", Linkname: "../../../etc/shadow", Typeflag: tar.TypeLink},
		}, bodies: [][]byte{[]byte("x=1")}},
		{name: "symlink loop", entries: []tar.Header{
			{Name: "etc/os-release", Linkname: "os-release", Typeflag: tar.TypeSymlink},
			{Name: "var/lib/dpkg/status", Mode: 0o644, Size: int64(len(dpkgStanza("a", "1"))), Typeflag: tar.TypeReg},
		}, bodies: [][]byte{nil, []byte(dpkgStanza("a", "1"))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			l := hostileLayer(t, tc.entries, tc.bodies)
			_, err := scan.ImageInventory(context.Background(), []scan.Layer{l}, scan.Options{TempDir: tmp})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			left, _ := os.ReadDir(tmp)
			if len(left) != 0 {
				t.Errorf("left %d entries in the temporary directory", len(left))
			}
		})
	}
	t.Run("truncated tar", func(t *testing.T) {
		l := hostileLayer(t, []tar.Header{{Name: "var/lib/dpkg/status", Mode: 0o644, Size: 100, Typeflag: tar.TypeReg}}, [][]byte{bytes.Repeat([]byte("a"), 100)})
		open := l.Open
		l.Open = func() (io.ReadCloser, error) {
			rc, _ := open()
			data, _ := io.ReadAll(rc)
			return io.NopCloser(bytes.NewReader(data[:300])), nil
		}
		if _, err := scan.ImageInventory(context.Background(), []scan.Layer{l}, scan.Options{}); err == nil {
			t.Error("a truncated layer scanned without error")
		}
	})
}

// FuzzLayerTar: arbitrary layer bytes never make the inventory panic.
func FuzzLayerTar(f *testing.F) {
	for _, s := range testenv.HostileTars(f) {
		f.Add(s)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	st := []byte(dpkgStanza("a", "1"))
	tw.WriteHeader(&tar.Header{Name: "var/lib/dpkg/status", Mode: 0o644, Size: int64(len(st)), Typeflag: tar.TypeReg})
	tw.Write(st)
	tw.WriteHeader(&tar.Header{Name: "etc/.wh.os-release", Typeflag: tar.TypeReg})
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		l := scan.Layer{DiffID: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}}
		_, _ = scan.ImageInventory(context.Background(), []scan.Layer{l}, scan.Options{})
	})
}
