package cli_test

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Hostile build inputs: a context, Dockerfile or image must never make
// berth read or write the host's files outside what the user named.

// hostSecret is a file outside every build context, standing for the
// host's /etc/shadow: no build may put its content in an image.
func hostSecret(t *testing.T) (dir, content string) {
	t.Helper()
	dir = t.TempDir()
	content = "HOST SECRET " + filepath.Base(dir) + "\n"
	write(t, filepath.Join(dir, "secret"), content, 0o600)
	return dir, content
}

// tarEntry is one entry of a hand-made tar: a regular file (Body), a
// symlink (Link with Type tar.TypeSymlink), a hard link or a directory.
type tarEntry struct {
	Name, Body, Link string
	Type             byte
	Mode             int64
}

func tarBytes(t *testing.T, ents ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Link, Mode: e.Mode}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bindEscapeDockerfile binds context paths that are, or pass through,
// symlinks to "/" and to a host directory; each must resolve inside the
// context, as in BuildKit.
const bindEscapeDockerfile = "FROM busybox\n" +
	"RUN --mount=type=bind,source=hostroot,target=/h cat /h/etc/shadow > /via-root && ls /h > /root-listing\n" +
	"RUN --mount=type=bind,source=hostroot/etc/shadow,target=/s cat /s > /via-file\n" +
	"RUN --mount=type=bind,source=up/etc,target=/e,rw cat /e/shadow > /via-rw\n"

// checkBindEscape checks the files a build of bindEscapeDockerfile made.
func checkBindEscape(t *testing.T, files map[string]string) {
	t.Helper()
	host, _ := os.ReadFile("/etc/shadow")
	for _, name := range []string{"via-root", "via-file", "via-rw"} {
		got := files[name]
		if len(host) > 0 && got == string(host) {
			t.Fatalf("/%s holds the host's /etc/shadow", name)
		}
		if got != "context shadow\n" {
			t.Errorf("/%s = %.40q, want the context's own etc/shadow", name, got)
		}
	}
	if l := files["root-listing"]; !strings.Contains(l, "Dockerfile") || strings.Contains(l, "proc") {
		t.Errorf("a link to / bound something other than the context root:\n%s", l)
	}
}

// TestBuildBindSourceInContext: RUN --mount=type=bind,source=LINK follows
// LINK inside the context (a directory, a tar on stdin, a Git repository
// or a named context), never onto the host; a link to a host directory
// is not in the context at all.
func TestBuildBindSourceInContext(t *testing.T) {
	e := newBuildEnv(t)
	hostDir, secret := hostSecret(t)
	links := map[string]string{"hostroot": "/", "up": "../../../../../..", "hostdir": hostDir}
	makeCtx := func(t *testing.T, dockerfile string) string {
		dir := ctxDir(t, map[string]string{"Dockerfile": dockerfile, "etc/shadow": "context shadow\n"})
		for name, target := range links {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	leak := "FROM busybox\nRUN --mount=type=bind,source=hostdir/secret,target=/s cat /s > /leak\n"

	t.Run("directory", func(t *testing.T) {
		files, stderr, code := buildFiles(t, e.bin, e.root, makeCtx(t, bindEscapeDockerfile))
		if code != 0 {
			t.Fatalf("build: %s", stderr)
		}
		checkBindEscape(t, files)
		files, stderr, code = buildFiles(t, e.bin, e.root, makeCtx(t, leak))
		if code == 0 && strings.Contains(files["leak"], secret) {
			t.Fatal("a link to a host directory bound the host's file")
		}
		if code != 1 || !strings.Contains(stderr, "not in the build context") {
			t.Fatalf("exit %d, stderr %q; want 1 and \"not in the build context\"", code, stderr)
		}
	})

	t.Run("tar on stdin", func(t *testing.T) {
		ents := []tarEntry{{Name: "Dockerfile", Body: bindEscapeDockerfile}, {Name: "etc/shadow", Body: "context shadow\n"}}
		for name, target := range links {
			ents = append(ents, tarEntry{Name: name, Type: tar.TypeSymlink, Link: target})
		}
		so, se, code := e.run("", bytes.NewReader(tarBytes(t, ents...)), "build", "-q", "--output", "type=tar,dest=-", "-")
		if code != 0 {
			t.Fatalf("build: %s", se)
		}
		files := map[string]string{}
		for name, h := range readTar(so) {
			files[name] = h.PAXRecords["content"]
		}
		checkBindEscape(t, files)
	})

	t.Run("git", func(t *testing.T) {
		repos, work := newWorkRepo(t)
		write(t, filepath.Join(work, "Dockerfile"), bindEscapeDockerfile, 0o644)
		write(t, filepath.Join(work, "leak/Dockerfile"), leak, 0o644)
		write(t, filepath.Join(work, "etc/shadow"), "context shadow\n", 0o644)
		for name, target := range links {
			os.Symlink(target, filepath.Join(work, name))
			os.Symlink(target, filepath.Join(work, "leak", name))
		}
		gitIn(t, work, "add", "-A")
		gitIn(t, work, "commit", "-q", "-m", "hostile")
		gitIn(t, repos, "clone", "-q", "--bare", work, "repo.git")
		url := gitServer(t, repos) + "/repo.git"
		files, stderr, code := buildFiles(t, e.bin, e.root, url)
		if code != 0 {
			t.Fatalf("build: %s", stderr)
		}
		checkBindEscape(t, files)
		files, stderr, code = buildFiles(t, e.bin, e.root, url+"#main:leak")
		if code == 0 && strings.Contains(files["leak"], secret) {
			t.Fatal("a link in a Git context bound the host's file")
		}
		if code != 1 || !strings.Contains(stderr, "not in the build context") {
			t.Fatalf("exit %d, stderr %q; want 1 and \"not in the build context\"", code, stderr)
		}
	})

	t.Run("named context", func(t *testing.T) {
		named := makeCtx(t, "")
		dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\n" +
			"RUN --mount=type=bind,from=other,source=hostroot/etc/shadow,target=/s cat /s > /via-file\n"})
		files, stderr, code := buildFiles(t, e.bin, e.root, "--build-context", "other="+named, dir)
		if code != 0 {
			t.Fatalf("build: %s", stderr)
		}
		if files["via-file"] != "context shadow\n" {
			t.Fatalf("/via-file = %.40q, want the named context's etc/shadow", files["via-file"])
		}
		dir = ctxDir(t, map[string]string{"Dockerfile": strings.Replace(leak, "type=bind,", "type=bind,from=other,", 1)})
		_, stderr, code = buildFiles(t, e.bin, e.root, "--build-context", "other="+named, dir)
		if code != 1 || !strings.Contains(stderr, "not in the build context") {
			t.Fatalf("exit %d, stderr %q; want 1 and \"not in the build context\"", code, stderr)
		}
	})

	t.Run("stage", func(t *testing.T) {
		// Pins what the sandbox already did: a stage's links resolve in
		// the stage's own filesystem.
		dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox AS s\n" +
			"RUN ln -s / /hostroot && ln -s " + hostDir + " /hostdir && echo stage > /etc/stage-only\n" +
			"FROM busybox\n" +
			"RUN --mount=type=bind,from=s,source=hostroot/etc/stage-only,target=/x cat /x > /via-stage\n"})
		files, stderr, code := buildFiles(t, e.bin, e.root, dir)
		if code != 0 || files["via-stage"] != "stage\n" {
			t.Fatalf("build: exit %d %s, /via-stage %q", code, stderr, files["via-stage"])
		}
		dir = ctxDir(t, map[string]string{"Dockerfile": "FROM busybox AS s\n" +
			"RUN ln -s " + hostDir + " /hostdir\n" +
			"FROM busybox\n" +
			"RUN --mount=type=bind,from=s,source=hostdir/secret,target=/s cat /s > /leak\n"})
		files, _, code = buildFiles(t, e.bin, e.root, dir)
		if code == 0 || strings.Contains(files["leak"], secret) {
			t.Fatalf("a stage's link to a host directory bound the host's file (exit %d)", code)
		}
	})
}
