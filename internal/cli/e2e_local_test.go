package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// berthCLI runs the built berth binary against one store.
type berthCLI struct {
	t    *testing.T
	bin  string
	root string
	env  []string
}

func newCLI(t *testing.T) *berthCLI {
	t.Helper()
	return &berthCLI{t: t, bin: testenv.Berth(t), root: t.TempDir()}
}

// run returns stdout, stderr and the exit status.
func (c *berthCLI) run(stdin []byte, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := testenv.Cmd{Args: append([]string{"--root", c.root}, args...), Env: c.env}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	r := testenv.Run(c.t, c.bin, cmd)
	return r.Stdout, r.Stderr, r.Code
}

// ok runs a command that must succeed and returns its stdout.
func (c *berthCLI) ok(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run(nil, args...)
	if code != 0 {
		c.t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// busyboxTar makes a root filesystem tar holding Debian's static busybox.
func busyboxTar(t *testing.T, extra map[string]string) []byte { return testenv.BusyboxRootfs(t, extra) }

func (c *berthCLI) importImage(name string, extra map[string]string, changes ...string) string {
	c.t.Helper()
	args := []string{"import"}
	for _, ch := range changes {
		args = append(args, "--change", ch)
	}
	args = append(args, "-", name)
	out, errs, code := c.run(busyboxTar(c.t, extra), args...)
	if code != 0 {
		c.t.Fatalf("import: exit %d: %s", code, errs)
	}
	return strings.TrimSpace(out)
}

func TestLocalImageCommands(t *testing.T) {
	c := newCLI(t)
	id := c.importImage("busybox:latest", nil, `CMD ["sh"]`, `ENV PATH=/bin`, `LABEL org.example.kind=base`)
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("import printed %q, want sha256:<64 hex>", id)
	}
	short := id[7:19]

	steps := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		want     []string // substrings of stdout
		wantErr  []string // substrings of stderr
		notWant  []string
	}{
		{name: "images", args: []string{"images"}, want: []string{"REPOSITORY   TAG       IMAGE ID       CREATED", "busybox      latest    " + short}},
		{name: "images -a", args: []string{"images", "-a"}, want: []string{"busybox"}},
		{name: "image ls -q", args: []string{"image", "ls", "-q"}, want: []string{short + "\n"}},
		{name: "images --no-trunc", args: []string{"images", "--no-trunc"}, want: []string{id}},
		{name: "images table format", args: []string{"images", "--format", "table {{.Repository}}\t{{.Tag}}\t{{.Size}}"}, want: []string{"REPOSITORY   TAG       SIZE\nbusybox      latest    1.9"}},
		{name: "images json", args: []string{"images", "--format", "json"}, want: []string{`"Repository":"busybox"`, `"Tag":"latest"`}},
		{name: "images label filter", args: []string{"images", "-q", "--filter", "label=org.example.kind=base"}, want: []string{short}},
		{name: "images label filter miss", args: []string{"images", "-q", "--filter", "label=nope"}, notWant: []string{short}},
		{name: "images reference filter", args: []string{"images", "--filter", "reference=busy*"}, want: []string{"busybox"}},
		{name: "images bad filter", args: []string{"images", "--filter", "color=red"}, wantCode: 1, wantErr: []string{"invalid filter 'color'"}},
		{name: "images bad flag", args: []string{"images", "--bogus"}, wantCode: 125, wantErr: []string{"unknown flag: --bogus"}},
		{name: "inspect", args: []string{"inspect", "busybox"}, want: []string{`"Id": "` + id, `"RepoTags": [`, `"busybox:latest"`, `"Architecture"`, `"RootFS"`, `"Metadata"`}},
		{name: "inspect format", args: []string{"image", "inspect", "-f", "{{.Config.Cmd}} {{.Os}} {{index .Config.Labels \"org.example.kind\"}}", "busybox"}, want: []string{"[sh] linux base\n"}},
		{name: "inspect missing", args: []string{"inspect", "nope"}, wantCode: 1, wantErr: []string{"berth: error: no such image: nope"}},
		{name: "history", args: []string{"history", "busybox"}, want: []string{"IMAGE          CREATED", short, "Imported from -"}},
		{name: "history no-trunc", args: []string{"history", "--no-trunc", "-H=false", "busybox"}, want: []string{id}},
		{name: "tag", args: []string{"tag", "busybox", "localhost:5000/bb:1"}},
		{name: "tag second repo", args: []string{"tag", short, "other/bb:2"}},
		{name: "tag bad name", args: []string{"tag", "busybox", "Bad:Name"}, wantCode: 1, wantErr: []string{"invalid reference format"}},
		{name: "images after tag", args: []string{"images"}, want: []string{"localhost:5000/bb", "other/bb", "busybox"}},
		{name: "rmi by id needs force", args: []string{"rmi", short}, wantCode: 1, wantErr: []string{"must be forced", "referenced in multiple repositories"}},
		{name: "rmi tag", args: []string{"rmi", "other/bb:2"}, want: []string{"Untagged: other/bb:2"}, notWant: []string{"Deleted"}},
		{name: "rmi -f by id", args: []string{"rmi", "-f", short}, want: []string{"Untagged: busybox:latest", "Untagged: localhost:5000/bb:1", "Deleted: " + id}},
		{name: "images empty", args: []string{"images", "-q"}, notWant: []string{short}},
		{name: "system check", args: []string{"system", "check"}, want: []string{"OK:"}},
		{name: "version", args: []string{"version"}, want: []string{"berth version"}},
		{name: "completion", args: []string{"completion", "bash"}, want: []string{"bash completion"}},
		{name: "help", args: []string{"images", "--help"}, want: []string{"--filter", "--format"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var stdin []byte
			if st.stdin != "" {
				stdin = []byte(st.stdin)
			}
			out, errs, code := c.run(stdin, st.args...)
			if code != st.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, st.wantCode, out, errs)
			}
			for _, w := range st.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range st.wantErr {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			for _, w := range st.notWant {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
			if code != 0 && strings.Count(strings.TrimSpace(errs), "\n") > 1 {
				t.Errorf("error is more than an error and a hint line:\n%s", errs)
			}
		})
	}
}

func TestPruneAndDf(t *testing.T) {
	c := newCLI(t)
	c.importImage("app:1", map[string]string{"etc/v": "1"})
	c.importImage("app:1", map[string]string{"etc/v": "2"}) // app:1 moves; the first image dangles
	c.importImage("keep:1", map[string]string{"etc/v": "3"})
	out := c.ok("images")
	if !strings.Contains(out, "<none>       <none>") {
		t.Fatalf("no dangling row after re-tagging:\n%s", out)
	}
	if got := c.ok("images", "-q", "--filter", "dangling=true"); strings.Count(got, "\n") != 1 {
		t.Fatalf("dangling filter: %q", got)
	}
	df := c.ok("system", "df")
	for _, w := range []string{"TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE", "Images          3"} {
		if !strings.Contains(df, w) {
			t.Errorf("system df lacks %q:\n%s", w, df)
		}
	}
	dfv := c.ok("system", "df", "-v")
	for _, w := range []string{"Images space usage:", "SHARED SIZE   UNIQUE SIZE", "app "} {
		if !strings.Contains(dfv, w) {
			t.Errorf("system df -v lacks %q:\n%s", w, dfv)
		}
	}
	// The prompt, declined.
	out, _, code := c.run([]byte("n\n"), "image", "prune")
	if code != 0 || !strings.Contains(out, "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ") {
		t.Fatalf("prune prompt: %d %q", code, out)
	}
	if got := c.ok("images", "-q"); strings.Count(got, "\n") != 3 {
		t.Fatalf("declined prune removed images: %q", got)
	}
	out, _, _ = c.run([]byte("y\n"), "image", "prune")
	if !strings.Contains(out, "Deleted Images:\ndeleted: sha256:") || !strings.Contains(out, "Total reclaimed space: ") || strings.Contains(out, "Total reclaimed space: 0B") {
		t.Fatalf("image prune output:\n%s", out)
	}
	out = c.ok("image", "prune", "-f")
	if !strings.HasSuffix(out, "Total reclaimed space: 0B\n") {
		t.Fatalf("second prune: %q", out)
	}
	out = c.ok("system", "prune", "-a", "-f")
	if !strings.Contains(out, "untagged: app:1") || !strings.Contains(out, "untagged: keep:1") {
		t.Fatalf("system prune -a:\n%s", out)
	}
	if got := c.ok("images", "-q"); got != "" {
		t.Fatalf("images left after system prune -a: %q", got)
	}
	blobs, _ := filepath.Glob(filepath.Join(c.root, "blobs", "sha256", "*"))
	if len(blobs) != 0 {
		t.Fatalf("%d blobs left after system prune -a", len(blobs))
	}
	c.ok("system", "check")
}

func TestImportRefusesHostileTar(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		name    string
		hdr     tar.Header
		wantErr string
	}{
		{"dotdot", tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}, `"../evil"`},
		{"nested dotdot", tar.Header{Name: "a/../../evil", Typeflag: tar.TypeReg, Mode: 0o644}, `"a/../../evil"`},
		{"hardlink out", tar.Header{Name: "link", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}, "hard link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tt.hdr)
			tw.Close()
			_, errs, code := c.run(buf.Bytes(), "import", "-", "evil:1")
			if code != 1 || !strings.Contains(errs, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want exit 1 naming %s", code, errs, tt.wantErr)
			}
			if out := c.ok("images", "-q"); out != "" {
				t.Fatalf("a refused import left an image: %q", out)
			}
		})
	}
	// An absolute symlink is a normal thing in a root filesystem: kept as
	// data, never followed.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "/etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "/etc/shadow-link", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"})
	tw.Close()
	if _, errs, code := c.run(buf.Bytes(), "import", "-", "abs:1"); code != 0 {
		t.Fatalf("absolute symlink refused: %s", errs)
	}
	var inspect []map[string]any
	if err := json.Unmarshal([]byte(c.ok("inspect", "abs:1")), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	c.ok("system", "check")
}

// TestImportURL: import takes an http(s) URL, as docker import does; the
// history says where the layer came from, and a failed download leaves
// nothing.
func TestImportURL(t *testing.T) {
	c := newCLI(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3})
	tw.Write([]byte("hi\n"))
	tw.Close()
	zw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rootfs.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write(buf.Bytes())
	}))
	defer srv.Close()
	c.ok("import", srv.URL+"/rootfs.tar.gz", "fromurl:1")
	if out := c.ok("history", "--no-trunc", "--format", "{{.Comment}}", "fromurl:1"); strings.TrimSpace(out) != "Imported from "+srv.URL+"/rootfs.tar.gz" {
		t.Fatalf("history comment %q", out)
	}
	_, errs, code := c.run(nil, "import", srv.URL+"/missing.tar", "missing:1")
	if code != 1 || !strings.Contains(errs, "404 Not Found") {
		t.Fatalf("import of a missing URL: exit %d %s", code, errs)
	}
	c.ok("system", "check")
}
