package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/sandbox/snapshot"
	"github.com/berth-dev/berth/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestMain(m *testing.M) {
	Main() // the re-exec hook: sandbox children never reach the tests
	os.Exit(m.Run())
}

// tarEntry describes one entry of a generated layer.
type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
}

func makeTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, Linkname: e.link, ModTime: mt, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// busyboxTar builds the base layer of every test: Debian's static busybox
// with an applet symlink for each command, and passwd/group files.
func busyboxTar(t testing.TB) []byte {
	t.Helper()
	bb := testenv.BusyboxStatic(t)
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	entries := []tarEntry{
		{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "bin/busybox", typ: tar.TypeReg, mode: 0o755, body: string(bin)},
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, body: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"},
		{name: "etc/group", typ: tar.TypeReg, mode: 0o644, body: "root:x:0:\napp:x:1000:\nextra:x:2000:app\n"},
		{name: "root/", typ: tar.TypeDir, mode: 0o700},
		{name: "home/", typ: tar.TypeDir, mode: 0o755},
		{name: "home/app/", typ: tar.TypeDir, mode: 0o700, uid: 1000, gid: 1000},
		{name: "home/app/.profile", typ: tar.TypeReg, mode: 0o600, uid: 1000, gid: 1000, body: "export X=1\n"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "var/", typ: tar.TypeDir, mode: 0o755},
		{name: "var/lib/", typ: tar.TypeDir, mode: 0o755},
		{name: "var/lib/data/", typ: tar.TypeDir, mode: 0o755},
		{name: "var/lib/data/a", typ: tar.TypeReg, mode: 0o644, body: "a\n"},
		{name: "var/lib/data/b", typ: tar.TypeReg, mode: 0o644, body: "b\n"},
		{name: "old", typ: tar.TypeReg, mode: 0o644, body: "old\n"},
		{name: "srv/", typ: tar.TypeDir, mode: 0o755},
		{name: "srv/x", typ: tar.TypeReg, mode: 0o644, body: "x\n"},
		{name: "srv/y", typ: tar.TypeReg, mode: 0o644, body: "y\n"},
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		entries = append(entries, tarEntry{name: "bin/" + a, typ: tar.TypeSymlink, link: "busybox", mode: 0o777})
	}
	return makeTar(t, entries)
}

func digestOf(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// baseLowers unpacks the busybox layer into a fresh snapshot store.
func baseLowers(t testing.TB) []string {
	t.Helper()
	st := testSnapshots(t)
	layer := busyboxTar(t)
	dir, err := st.Unpack(context.Background(), digestOf(layer), bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	return []string{dir}
}

// readLayer lists a layer tar as name -> header (and body for files).
type layerEntry struct {
	hdr  *tar.Header
	body string
}

func readLayer(t testing.TB, b []byte) (map[string]layerEntry, []string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	m := map[string]layerEntry{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		m[h.Name] = layerEntry{hdr: h, body: string(body)}
		order = append(order, h.Name)
	}
	return m, order
}

// testSnapshots is a snapshot store in a temp dir that is removed at the end
// even when rootless extraction left files owned by subordinate ids.
func testSnapshots(t testing.TB) *snapshot.Store {
	t.Helper()
	root := t.TempDir()
	st, err := NewSnapshots(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if fsutil.RemoveAll(root) == nil {
			return
		}
		if m := lookupIDMapper(); m != nil {
			if err := m.extract(context.Background(), extractSpec{Dir: root, Remove: true}, nil); err != nil {
				t.Errorf("removing snapshots: %v", err)
			}
		}
	})
	return st
}
