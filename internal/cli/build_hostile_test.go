package cli_test

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// hostVictim is a host file and directory with known content, mode and
// times, and a check that none of them changed.
func hostVictim(t *testing.T) (dir, file string, check func()) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "victim")
	write(t, file, "host data\n", 0o600)
	old := time.Unix(1500000000, 0)
	os.Chtimes(file, old, old)
	os.Chmod(dir, 0o700)
	return dir, file, func() {
		t.Helper()
		fi, err := os.Stat(file)
		data, _ := os.ReadFile(file)
		if err != nil || string(data) != "host data\n" || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(old) {
			t.Fatalf("the build changed the host's file: %q, %v, %v", data, fi.Mode(), fi.ModTime())
		}
		if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
			t.Fatalf("the build changed the host directory's mode to %v", di.Mode())
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("the build wrote into the host directory (%d entries)", len(ents))
		}
	}
}

// TestBuildTarContextStaysInDir: a tar context on stdin whose symlink to
// a host file or directory is followed by an entry of the same name
// replaces the link; nothing is written, chmodded or timestamped through
// it, and an entry under such a link is refused.
func TestBuildTarContextStaysInDir(t *testing.T) {
	e := newBuildEnv(t)
	hostDir, victim, check := hostVictim(t)
	ctx := tarBytes(t,
		tarEntry{Name: "Dockerfile", Body: "FROM scratch\nCOPY x d /\n"},
		tarEntry{Name: "x", Type: tar.TypeSymlink, Link: victim},
		tarEntry{Name: "x", Body: "pwned\n", Mode: 0o777},
		tarEntry{Name: "d", Type: tar.TypeSymlink, Link: hostDir},
		tarEntry{Name: "d", Type: tar.TypeDir, Mode: 0o777},
		tarEntry{Name: "d/inside", Body: "in d\n"},
	)
	so, se, code := e.run("", bytes.NewReader(ctx), "build", "-q", "--output", "type=tar,dest=-", "-")
	check()
	if code != 0 {
		t.Fatalf("build: %s", se)
	}
	if got := readTar(so)["x"]; got == nil || got.PAXRecords["content"] != "pwned\n" {
		t.Fatalf("/x = %v, want the tar's file", got)
	}
	under := tarBytes(t,
		tarEntry{Name: "Dockerfile", Body: "FROM scratch\nCOPY . /\n"},
		tarEntry{Name: "d", Type: tar.TypeSymlink, Link: hostDir},
		tarEntry{Name: "d/victim", Body: "pwned\n"},
	)
	_, se, code = e.run("", bytes.NewReader(under), "build", "-q", "-")
	check()
	if code != 1 || !strings.Contains(se, "passes through the symlink") {
		t.Fatalf("exit %d, stderr %q; want 1 and \"passes through the symlink\"", code, se)
	}
}

// TestBuildCopyFromLinks: COPY --from of a stage holding absolute links
// (to host paths that exist) reads inside the stage; unpacking a stage
// with a hard link to such a link sets no time or mode through it.
func TestBuildCopyFromLinks(t *testing.T) {
	e := newBuildEnv(t)
	hostDir, victim, check := hostVictim(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox AS s\n" +
		"RUN mkdir -p " + hostDir + " && echo stage > " + victim + ".stage && ln -s " + hostDir + " /d && ln -s " + victim + " /l\n" +
		// A layer with a hard link to a link (as a loaded image may have).
		"ADD links.tar /\n" +
		"FROM scratch\n" +
		"COPY --from=s /hl /hl\n" +
		"COPY --from=s /d/victim.stage /via-dir\n" +
		"COPY --from=s /l /via-link\n"})
	write(t, filepath.Join(dir, "links.tar"), string(tarBytes(t,
		tarEntry{Name: "ll", Type: tar.TypeSymlink, Link: victim},
		tarEntry{Name: "hl", Type: tar.TypeLink, Link: "ll"},
	)), 0o644)
	files, stderr, code := buildFiles(t, e.bin, e.root, dir)
	check()
	if code != 0 {
		t.Fatalf("build: %s", stderr)
	}
	if files["via-dir"] != "stage\n" {
		t.Fatalf("/via-dir = %.40q, want the stage's file", files["via-dir"])
	}
	if _, ok := files["via-link"]; ok {
		t.Fatal("COPY --from of a link to a host file copied the host's file")
	}
}

// TestBuildOutputLocalLinks: --output type=local writes an image's
// absolute links as links (never following one onto the host), keeps
// hard links, and writes nothing outside the destination.
func TestBuildOutputLocalLinks(t *testing.T) {
	e := newBuildEnv(t)
	hostDir, victim, check := hostVictim(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM scratch\nADD links.tar /\n"})
	write(t, filepath.Join(dir, "links.tar"), string(tarBytes(t,
		tarEntry{Name: "victim", Type: tar.TypeSymlink, Link: victim},
		tarEntry{Name: "hostdir", Type: tar.TypeSymlink, Link: hostDir},
		tarEntry{Name: "hl", Type: tar.TypeLink, Link: "victim"},
		tarEntry{Name: "f", Body: "f\n"},
		tarEntry{Name: "g", Type: tar.TypeLink, Link: "f"},
	)), 0o644)
	dest := filepath.Join(t.TempDir(), "out")
	if _, se, code := e.run(dir, nil, "build", "-q", "--output", "type=local,dest="+dest, "."); code != 0 {
		t.Fatalf("build: %s", se)
	}
	check()
	for name, want := range map[string]string{"victim": victim, "hostdir": hostDir, "hl": victim} {
		if got, err := os.Readlink(filepath.Join(dest, name)); err != nil || got != want {
			t.Errorf("%s: link to %q (%v), want %q", name, got, err, want)
		}
	}
	f, err1 := os.Stat(filepath.Join(dest, "f"))
	g, err2 := os.Stat(filepath.Join(dest, "g"))
	if err1 != nil || err2 != nil || !os.SameFile(f, g) {
		t.Errorf("the hard link g is not f: %v %v", err1, err2)
	}
}

// TestBuildAddTarLinks: ADD of a local tar resolves entries under the
// archive's links inside the image (an absolute link to a directory and
// a file under it write that directory, as with Docker), so the layer
// never holds an entry under a symlink; ".." names and hard links to
// anything but an earlier file of the archive are refused.
func TestBuildAddTarLinks(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nADD t.tar /\nADD t.tar /dst/\n" +
		"RUN cat /real/f /real/g /dst/rel/f > /seen\n"})
	write(t, filepath.Join(dir, "t.tar"), string(tarBytes(t,
		tarEntry{Name: "a", Type: tar.TypeSymlink, Link: "/real"},
		tarEntry{Name: "a/f", Body: "through abs\n"},
		tarEntry{Name: "a/g", Type: tar.TypeLink, Link: "a/f"},
		tarEntry{Name: "r", Type: tar.TypeSymlink, Link: "rel"},
		tarEntry{Name: "r/f", Body: "through rel\n"},
	)), 0o644)
	files, stderr, code := buildFiles(t, e.bin, e.root, dir)
	if code != 0 {
		t.Fatalf("build: %s", stderr)
	}
	if files["seen"] != "through abs\nthrough abs\nthrough rel\n" {
		t.Fatalf("/seen = %q", files["seen"])
	}
	for _, tc := range []struct {
		ents []tarEntry
		err  string
	}{
		{[]tarEntry{{Name: "../x", Body: "x"}}, "escapes the root"},
		{[]tarEntry{{Name: "h", Type: tar.TypeLink, Link: "/etc/passwd"}}, "which the archive does not hold before it"},
		{[]tarEntry{{Name: "h", Type: tar.TypeLink, Link: "../../etc/passwd"}}, "escapes the root"},
		{[]tarEntry{{Name: "f", Body: "x"}, {Name: "f/under", Body: "y"}}, "which is not a directory"},
	} {
		d := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nADD t.tar /x/\n"})
		write(t, filepath.Join(d, "t.tar"), string(tarBytes(t, tc.ents...)), 0o644)
		_, stderr, code := buildFiles(t, e.bin, e.root, d)
		if code != 1 || !strings.Contains(stderr, tc.err) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.ents, code, stderr, tc.err)
		}
	}
}

// TestBuildRemoteDockerignoreLink: a fetched context's .dockerignore that
// links to a host file is not read (BuildKit reads it inside the
// context), so none of the host file's lines reach the build's output.
func TestBuildRemoteDockerignoreLink(t *testing.T) {
	e := newBuildEnv(t)
	hostDir, _ := hostSecret(t)
	bad := filepath.Join(hostDir, "patterns")
	write(t, bad, "HOSTLINE[\n", 0o600)
	ctx := tarBytes(t,
		tarEntry{Name: "Dockerfile", Body: "FROM scratch\nCOPY . /\n"},
		tarEntry{Name: ".dockerignore", Type: tar.TypeSymlink, Link: bad},
		tarEntry{Name: "Dockerfile.dockerignore", Type: tar.TypeSymlink, Link: bad},
	)
	_, se, code := e.run("", bytes.NewReader(ctx), "build", "-q", "-")
	if code != 0 || strings.Contains(se, "HOSTLINE") {
		t.Fatalf("exit %d, stderr %q: the host file was read as the context's .dockerignore", code, se)
	}
}

// TestBuildCacheMountID: a cache mount's id (or source) naming a path
// climbs nowhere: the cache is a directory of the store named by a hash
// of the id.
func TestBuildCacheMountID(t *testing.T) {
	e := newBuildEnv(t)
	outside := filepath.Join(t.TempDir(), "escape")
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN --mount=type=cache,id=../../../../../../../.." + outside + ",target=/c echo x > /c/m\n" +
		"RUN --mount=type=cache,id=/,source=../../../..,target=/d echo y > /d/n\n"})
	e.mustBuild(dir)
	if _, err := os.Stat(outside); err == nil {
		t.Fatal("a cache id climbed out of the store")
	}
	found := 0
	filepath.WalkDir(e.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && (d.Name() == "m" || d.Name() == "n") && strings.Contains(p, string(filepath.Separator)+"mounts"+string(filepath.Separator)) {
			found++
		}
		return nil
	})
	if found != 2 {
		t.Fatalf("%d of the 2 cache files are in the store's cache directories", found)
	}
}
