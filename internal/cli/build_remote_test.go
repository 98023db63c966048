package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	"github.com/berth-dev/berth/internal/testenv"
)

// gitServer serves the repositories under a directory over Git's smart
// HTTP protocol (git http-backend) on 127.0.0.1, as a Git host would.
func gitServer(t *testing.T, reposDir string) string {
	t.Helper()
	gitBin := testenv.Peer(t, "git")
	srv := httptest.NewServer(&cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + reposDir, "GIT_HTTP_EXPORT_ALL=1"},
	})
	t.Cleanup(srv.Close)
	return srv.URL
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// buildFiles builds with berth and returns the regular files of the result
// (path → content), through --output type=tar.
func buildFiles(t *testing.T, bin, root string, args ...string) (map[string]string, string, int) {
	t.Helper()
	r := testenv.Run(t, bin, testenv.Cmd{Args: append([]string{"--root", root, "build", "-q", "--output", "type=tar,dest=-"}, args...)})
	if r.Code != 0 {
		return nil, r.Stderr, r.Code
	}
	files := map[string]string{}
	for name, h := range readTar(r.Stdout) {
		if h.Typeflag == tar.TypeReg {
			files[name] = h.PAXRecords["content"]
		}
	}
	return files, r.Stderr, 0
}

// newWorkRepo makes a directory for repositories and a work tree "src" in
// it, on branch main.
func newWorkRepo(t *testing.T) (repos, work string) {
	t.Helper()
	repos = t.TempDir()
	work = filepath.Join(repos, "src")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	gitIn(t, work, "init", "-q", "-b", "main")
	return repos, work
}

// TestBuildGitContext: docker build's Git contexts (URL#ref:subdir) against
// a real Git server, and the ways they are refused.
func TestBuildGitContext(t *testing.T) {
	repos, work := newWorkRepo(t)
	write(t, filepath.Join(work, "app/Dockerfile"), "FROM scratch\nCOPY hello.txt /\n", 0o644)
	write(t, filepath.Join(work, "app/Dockerfile.alt"), "FROM scratch\nCOPY hello.txt /alt.txt\n", 0o644)
	write(t, filepath.Join(work, "app/hello.txt"), "v1\n", 0o644)
	write(t, filepath.Join(work, "Dockerfile"), "FROM scratch\nCOPY app/hello.txt /root.txt\n", 0o644)
	write(t, filepath.Join(work, "app/Dockerfile.all"), "FROM scratch\nCOPY . /all/\n", 0o644)
	os.Symlink("/etc", filepath.Join(work, "escape"))
	os.Symlink("/etc/passwd", filepath.Join(work, "app/Dockerfile.evil"))
	gitIn(t, work, "add", "-A")
	gitIn(t, work, "commit", "-q", "-m", "v1")
	gitIn(t, work, "tag", "v1")
	first := gitIn(t, work, "rev-parse", "HEAD")
	write(t, filepath.Join(work, "app/hello.txt"), "v2\n", 0o644)
	gitIn(t, work, "commit", "-q", "-am", "v2")
	gitIn(t, repos, "clone", "-q", "--bare", work, "repo.git")
	url := gitServer(t, repos) + "/repo.git"

	bin, root := testenv.Berth(t), t.TempDir()
	for _, tc := range []struct {
		name  string
		args  []string
		file  string
		want  string
		error string
	}{
		{"default branch, root", []string{url}, "root.txt", "v2\n", ""},
		{"branch and subdir", []string{url + "#main:app"}, "hello.txt", "v2\n", ""},
		{"tag", []string{url + "#v1:app"}, "hello.txt", "v1\n", ""},
		{"commit", []string{url + "#" + first + ":app"}, "hello.txt", "v1\n", ""},
		{"-f inside the context", []string{"-f", "Dockerfile.alt", url + "#main:app"}, "alt.txt", "v2\n", ""},
		{"no .git in the context", []string{"-f", "app/Dockerfile.all", url}, "all/app/hello.txt", "v2\n", ""},
		{"no such ref", []string{url + "#nope"}, "", "", "unable to prepare context: fetching nope"},
		{"subdir missing", []string{url + "#main:nodir"}, "", "", `subdirectory "nodir" is not in the repository`},
		{"subdir escapes", []string{url + "#main:escape"}, "", "", "leads out of"},
		{"subdir climbs", []string{url + "#main:../.."}, "", "", "leads out of"},
		{"-f escapes", []string{"-f", "Dockerfile.evil", url + "#main:app"}, "", "", "failed to read dockerfile"},
		{"ref as option", []string{url + "#--upload-pack=touch /tmp/x"}, "", "", "invalid Git reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, stderr, code := buildFiles(t, bin, root, tc.args...)
			if tc.error != "" {
				if code != 1 || !strings.Contains(stderr, tc.error) || strings.Contains(stderr, "goroutine") {
					t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.error)
				}
				return
			}
			if code != 0 {
				t.Fatalf("build: exit %d %s", code, stderr)
			}
			if files[tc.file] != tc.want {
				t.Fatalf("%s = %q, want %q (files %v)", tc.file, files[tc.file], tc.want, files)
			}
			for f := range files {
				if strings.Contains(f, ".git/") {
					t.Fatalf("the clone's %s is in the image", f)
				}
			}
		})
	}
}

// TestBuildURLContext: an http URL as the context is a tar archive
// (compressed or not) or else a Dockerfile with an empty context.
func TestBuildURLContext(t *testing.T) {
	plain := tarOf(map[string]string{"Dockerfile": "FROM scratch\nCOPY data.txt /\n", "data.txt": "from a tar\n"})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	bodies := map[string][]byte{
		"/ctx.tar":    plain.Bytes(),
		"/ctx.tar.gz": gz.Bytes(),
		"/Dockerfile": []byte("FROM scratch\nLABEL from=url\n"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	bin, root := testenv.Berth(t), t.TempDir()
	for _, path := range []string{"/ctx.tar", "/ctx.tar.gz"} {
		files, stderr, code := buildFiles(t, bin, root, srv.URL+path)
		if code != 0 || files["data.txt"] != "from a tar\n" {
			t.Fatalf("build %s: exit %d %s files %v", path, code, stderr, files)
		}
	}
	r := testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", root, "build", "-q", "-t", "fromurl:1", srv.URL + "/Dockerfile"}})
	if r.Code != 0 {
		t.Fatalf("build of a Dockerfile URL: exit %d %s", r.Code, r.Stderr)
	}
	r = testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", root, "inspect", "-f", "{{.Config.Labels.from}}", "fromurl:1"}})
	if strings.TrimSpace(r.Stdout) != "url" {
		t.Fatalf("label of the Dockerfile-URL build: %q %s", r.Stdout, r.Stderr)
	}
	r = testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", root, "build", srv.URL + "/missing.tar"}})
	if r.Code != 1 || !strings.Contains(r.Stderr, "404 Not Found") {
		t.Fatalf("build of a missing URL: exit %d %s", r.Code, r.Stderr)
	}
}

// TestBuildAddGit: ADD of a Git URL puts the repository's files (at the
// ref, without .git unless --keep-git-dir) into the image; the cache is
// keyed by the commit the ref names, so a new commit is a miss that says so.
func TestBuildAddGit(t *testing.T) {
	repos, work := newWorkRepo(t)
	write(t, filepath.Join(work, "app/hello.txt"), "v1\n", 0o644)
	gitIn(t, work, "add", "-A")
	gitIn(t, work, "commit", "-q", "-m", "v1")
	gitIn(t, work, "tag", "-a", "-m", "release", "v1")
	bare := filepath.Join(repos, "repo.git")
	gitIn(t, repos, "clone", "-q", "--bare", work, bare)
	url := gitServer(t, repos) + "/repo.git"
	bin, root := testenv.Berth(t), t.TempDir()

	ctx := ctxDir(t, map[string]string{"Dockerfile": "FROM scratch\nADD " + url + "#v1:app /tagged/\nADD --keep-git-dir=true " + url + " /repo\nADD " + url + "#main /plain\n"})
	files, stderr, code := buildFiles(t, bin, root, ctx)
	if code != 0 {
		t.Fatalf("build: exit %d %s", code, stderr)
	}
	if files["tagged/hello.txt"] != "v1\n" || files["plain/app/hello.txt"] != "v1\n" {
		t.Fatalf("ADD git files: %v", files)
	}
	if _, ok := files["repo/.git/HEAD"]; !ok {
		t.Fatalf("--keep-git-dir lost .git: %v", files)
	}
	for f := range files {
		if strings.HasPrefix(f, "plain/.git/") || strings.HasPrefix(f, "tagged/.git") {
			t.Fatalf("ADD without --keep-git-dir kept %s", f)
		}
	}

	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM scratch\nADD " + url + "#main /src\n"})
	build := func() string {
		t.Helper()
		r := testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", root, "build", "--progress", "plain", "-t", "addgit:1", dir}})
		if r.Code != 0 {
			t.Fatalf("build: exit %d %s", r.Code, r.Stderr)
		}
		return r.Stderr
	}
	build()
	if out := build(); !strings.Contains(stepBlock(out, "ADD "), "CACHED") {
		t.Fatalf("unchanged repository was not a cache hit:\n%s", out)
	}
	write(t, filepath.Join(work, "app/hello.txt"), "v2\n", 0o644)
	gitIn(t, work, "commit", "-q", "-am", "v2")
	gitIn(t, work, "push", "-q", bare, "main")
	out := build()
	if block := stepBlock(out, "ADD "); strings.Contains(block, "CACHED") || !strings.Contains(block, "1 file changed: "+url+"#main") {
		t.Fatalf("a new commit was not a miss naming the source:\n%s", out)
	}
	if files, _, _ := buildFiles(t, bin, root, dir); files["src/app/hello.txt"] != "v2\n" {
		t.Fatalf("after the new commit: %v", files)
	}
}

// TestBuildNamedContexts: --build-context name=DIR feeds COPY --from and
// RUN --mount=from (keyed by the files, so a change is a miss that names
// them); name=docker-image://REF stands in for FROM name.
func TestBuildNamedContexts(t *testing.T) {
	e := newBuildEnv(t)
	extra := ctxDir(t, map[string]string{"hello.txt": "one\n", "sub/deep.txt": "deep\n"})
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM base\n" +
		"COPY --from=extra hello.txt /copied.txt\n" +
		"RUN --mount=type=bind,from=extra,target=/x cat /x/sub/deep.txt > /mounted.txt\n"})
	args := []string{"--build-context", "extra=" + extra, "--build-context", "BASE=docker-image://busybox:latest"}
	fs := e.files(dir, args...)
	if fs["copied.txt"].PAXRecords["content"] != "one\n" || fs["mounted.txt"].PAXRecords["content"] != "deep\n" || fs["bin/busybox"] == nil {
		t.Fatalf("files of the build: copied %v, mounted %v, busybox %v", fs["copied.txt"], fs["mounted.txt"], fs["bin/busybox"] != nil)
	}
	se := e.mustBuild(dir, append([]string{"--progress", "plain", "-t", "named:1"}, args...)...)
	if !strings.Contains(stepBlock(se, "COPY --from=extra"), "CACHED") {
		t.Fatalf("unchanged named context was not a cache hit:\n%s", se)
	}
	write(t, filepath.Join(extra, "hello.txt"), "two\n", 0o644)
	se = e.mustBuild(dir, append([]string{"--progress", "plain", "-t", "named:1"}, args...)...)
	if block := stepBlock(se, "COPY --from=extra"); !strings.Contains(block, "1 file changed: hello.txt") {
		t.Fatalf("a changed file in the named context was not a miss naming it:\n%s", se)
	}
	for _, tc := range []struct {
		dockerfile string
		args       []string
		code       int
		err        string
	}{
		{"FROM extra\n", []string{"--build-context", "extra=" + extra}, 1, "is a directory"},
		{"FROM scratch\n", []string{"--build-context", "noequals"}, 125, "want name=value"},
		{"FROM scratch\n", []string{"--build-context", "x=/does/not/exist"}, 1, "is not a directory"},
		{"FROM scratch\n", []string{"--build-context", "x=oci-layout:///tmp/l"}, 125, "not supported"},
	} {
		d := ctxDir(t, map[string]string{"Dockerfile": tc.dockerfile})
		_, stderr, code := e.run(d, nil, append(append([]string{"build"}, tc.args...), ".")...)
		if code != tc.code || !strings.Contains(stderr, tc.err) {
			t.Errorf("%v: exit %d %q; want %d and %q", tc.args, code, stderr, tc.code, tc.err)
		}
	}
}

// TestBuildRunBindKeys: a RUN whose bind mount reads from the context or
// from a stage re-runs when what it reads changes (the RUN
// --mount=type=bind,source=go.mod pattern), and says why.
func TestBuildRunBindKeys(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{
		"Dockerfile": "FROM busybox AS gen\nCOPY gen.txt /gen.txt\n" +
			"FROM busybox\n" +
			"RUN --mount=type=bind,source=mod.txt,target=/mod.txt cat /mod.txt > /from-context\n" +
			"RUN --mount=type=bind,from=gen,source=/gen.txt,target=/gen.txt cat /gen.txt > /from-stage\n",
		"mod.txt": "v1\n",
		"gen.txt": "g1\n",
	})
	check := func(wantMod, wantGen string) string {
		t.Helper()
		se := e.mustBuild(dir, "--progress", "plain", "-t", "binds:1")
		fs := e.files(dir)
		if got := fs["from-context"].PAXRecords["content"]; got != wantMod {
			t.Fatalf("/from-context = %q, want %q\n%s", got, wantMod, se)
		}
		if got := fs["from-stage"].PAXRecords["content"]; got != wantGen {
			t.Fatalf("/from-stage = %q, want %q\n%s", got, wantGen, se)
		}
		return se
	}
	check("v1\n", "g1\n")
	se := check("v1\n", "g1\n")
	if !strings.Contains(stepBlock(se, "RUN --mount=type=bind,source=mod.txt"), "CACHED") {
		t.Fatalf("unchanged bind source was not a cache hit:\n%s", se)
	}
	write(t, filepath.Join(dir, "mod.txt"), "v2\n", 0o644)
	se = check("v2\n", "g1\n")
	if !strings.Contains(stepBlock(se, "RUN --mount=type=bind,source=mod.txt"), "1 file changed: mod.txt") {
		t.Fatalf("the miss does not name the bound file:\n%s", se)
	}
	write(t, filepath.Join(dir, "gen.txt"), "g2\n", 0o644)
	check("v2\n", "g2\n")
}

// TestBuildHeredocKeys: the body of a RUN or COPY heredoc is part of the
// step's key, not just the "<<EOF" marker.
func TestBuildHeredocKeys(t *testing.T) {
	e := newBuildEnv(t)
	for _, body := range []string{"one", "two"} {
		dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN <<EOF\necho " + body + " > /run.txt\nEOF\nCOPY <<EOF /copy.txt\n" + body + "\nEOF\n"})
		fs := e.files(dir)
		if got := fs["run.txt"].PAXRecords["content"]; got != body+"\n" {
			t.Fatalf("RUN heredoc %q: /run.txt = %q", body, got)
		}
		if got := fs["copy.txt"].PAXRecords["content"]; got != body+"\n" {
			t.Fatalf("COPY heredoc %q: /copy.txt = %q", body, got)
		}
	}
}

// TestBuildSSH: --ssh forwards an ssh-agent socket to RUN
// --mount=type=ssh at BuildKit's path, with SSH_AUTH_SOCK set; a required
// ssh mount without --ssh fails, an optional one is left out.
func TestBuildSSH(t *testing.T) {
	e := newBuildEnv(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command(testenv.Peer(t, "ssh-agent"), "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 200 {
			t.Fatal("ssh-agent did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /sock.txt\n" +
		"RUN --mount=type=ssh,id=other,required=false test ! -e /run/buildkit/ssh_agent.0 && echo absent > /optional.txt\n"})
	fs := e.files(dir, "--ssh", "default="+sock)
	if got := fs["sock.txt"].PAXRecords["content"]; got != "/run/buildkit/ssh_agent.0\n" {
		t.Fatalf("SSH_AUTH_SOCK in RUN: %q", got)
	}
	if fs["optional.txt"] == nil {
		t.Fatal("an optional ssh mount that was not forwarded was not left out")
	}
	if _, ok := fs["run/buildkit/ssh_agent.0"]; ok {
		t.Fatal("the agent socket's mount point is in the layer")
	}
	req := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=ssh,required=true true\n"})
	if _, stderr, code := e.run(req, nil, "build", "."); code != 1 || !strings.Contains(stderr, "ssh default: not forwarded") {
		t.Fatalf("required ssh without --ssh: exit %d %s", code, stderr)
	}
	if _, stderr, code := e.run(req, nil, "build", "--ssh", "default="+filepath.Join(dir, "Dockerfile"), "."); code != 1 || !strings.Contains(stderr, "is not an ssh-agent socket") {
		t.Fatalf("--ssh with a plain file: exit %d %s", code, stderr)
	}
}

// TestBuildForeignRUN: a RUN whose program is for another CPU fails with
// a message that says so and what would run it, not a bare "exec format
// error".
func TestBuildForeignRUN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("RUN needs the sandbox; these tests run as root in CI")
	}
	// The smallest aarch64 ELF executable header: enough for the kernel
	// to refuse it (when no binfmt handler takes it).
	elf := make([]byte, 120)
	copy(elf, "\x7fELF\x02\x01\x01")
	elf[16], elf[18] = 2, 183 // ET_EXEC, EM_AARCH64
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY sh /bin/sh\nRUN echo hi\n"})
	write(t, filepath.Join(dir, "sh"), string(elf), 0o755)
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err == nil {
		t.Skip("qemu-aarch64 is registered here: the program would run")
	}
	r := testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: []string{"--root", t.TempDir(), "build", "--platform", "linux/arm64", dir}})
	if r.Code != 1 || !strings.Contains(r.Stderr, "it is a program for linux/arm64") || !strings.Contains(r.Stderr, "qemu-user-static") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
}

// TestBuildAddHost: --add-host lines reach RUN's /etc/hosts and are part
// of the step (a changed mapping re-runs it).
func TestBuildAddHost(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN cat /etc/hosts > /hosts\n"})
	fs := e.files(dir, "--add-host", "registry.internal:10.0.0.7", "--add-host", "gw=host-gateway", "--add-host", "v6:[fd00::1]")
	hosts := fs["hosts"].PAXRecords["content"]
	for _, want := range []string{"10.0.0.7\tregistry.internal\n", "127.0.0.1\tgw\n", "fd00::1\tv6\n", "127.0.0.1\tlocalhost"} {
		if !strings.Contains(hosts, want) {
			t.Fatalf("/etc/hosts in RUN lacks %q:\n%s", want, hosts)
		}
	}
	if fs := e.files(dir, "--add-host", "registry.internal:10.0.0.8"); !strings.Contains(fs["hosts"].PAXRecords["content"], "10.0.0.8\tregistry.internal") {
		t.Fatal("a changed --add-host did not re-run the step")
	}
	if _, stderr, code := e.run(dir, nil, "build", "--add-host", "nonsense", "."); code != 125 || !strings.Contains(stderr, "want HOST:IP") {
		t.Fatalf("bad --add-host: exit %d %s", code, stderr)
	}
}

// TestBuildMetadataFile: --metadata-file holds buildx's keys for the
// built image, matching what the store and --iidfile say.
func TestBuildMetadataFile(t *testing.T) {
	bin, root := testenv.Berth(t), t.TempDir()
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM scratch\nLABEL a=b\n"})
	meta, iid := filepath.Join(t.TempDir(), "meta.json"), filepath.Join(t.TempDir(), "iid")
	r := testenv.Run(t, bin, testenv.Cmd{Args: []string{"--root", root, "build", "-q", "-t", "example.com/app:1", "--metadata-file", meta, "--iidfile", iid, dir}})
	if r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	var m map[string]any
	raw, _ := os.ReadFile(meta)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("metadata file: %v\n%s", err, raw)
	}
	id, _ := os.ReadFile(iid)
	// The store is an OCI layout: its index names the manifest.
	var idx struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	raw, _ = os.ReadFile(filepath.Join(root, "index.json"))
	json.Unmarshal(raw, &idx)
	manifest := ""
	for _, d := range idx.Manifests {
		if strings.HasSuffix(d.Annotations["org.opencontainers.image.ref.name"], "example.com/app:1") {
			manifest = d.Digest
		}
	}
	if manifest == "" || m["containerimage.config.digest"] != string(id) || m["image.name"] != "example.com/app:1" || m["containerimage.digest"] != manifest {
		t.Fatalf("metadata %v; image ID %s; manifest %q", m, id, manifest)
	}
}

// TestBuildNoCacheFilter: --no-cache-filter re-runs the named stages'
// steps and only those.
func TestBuildNoCacheFilter(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox AS deps\nRUN echo deps > /deps\nFROM busybox\nCOPY --from=deps /deps /deps\nRUN echo final > /final\n"})
	e.mustBuild(dir, "-t", "ncf:1")
	se := e.mustBuild(dir, "--progress", "plain", "-t", "ncf:1", "--no-cache-filter", "DEPS")
	if block := stepBlock(se, "RUN echo deps"); strings.Contains(block, "CACHED") || block == "" {
		t.Fatalf("the filtered stage's step was cached:\n%s", se)
	}
	if block := stepBlock(se, "RUN echo final"); !strings.Contains(block, "CACHED") {
		t.Fatalf("a step outside the filter was not cached:\n%s", se)
	}
}

// TestBuildCopyFromKeyedByContent: a COPY --from a stage (and a bind
// mount from one) is keyed by the content of what it takes, as BuildKit's
// contenthash keys it: a re-run step that writes the same bytes with
// another mtime leaves the steps that copy from it cached, and a change
// in the copied bytes, or in a copied file's mode, misses.
func TestBuildCopyFromKeyedByContent(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox AS deps\nARG T\nARG C=deps\nARG M=644\n" +
		"RUN mkdir -p /out/sub && echo $C > /out/sub/deps && echo other > /unrelated && chmod $M /out/sub/deps && touch -d \"$T\" /out/sub/deps /out/sub /out /unrelated\n" +
		"FROM busybox\nCOPY --from=deps /out /out\nRUN --mount=type=bind,from=deps,source=/out,target=/o cat /o/sub/deps > /final\n"})
	build := func(args ...string) string {
		return e.mustBuild(dir, append([]string{"--progress", "plain", "-t", "ckey:1"}, args...)...)
	}
	build("--build-arg", "T=2001-01-01 00:00:00")
	for _, tc := range []struct {
		args   []string
		cached bool
	}{
		{[]string{"--build-arg", "T=2002-02-02 00:00:00"}, true},
		{[]string{"--build-arg", "T=2002-02-02 00:00:00", "--build-arg", "C=depz"}, false},
		{[]string{"--build-arg", "T=2002-02-02 00:00:00", "--build-arg", "M=755"}, false},
	} {
		se := build(tc.args...)
		if block := stepBlock(se, "RUN mkdir"); strings.Contains(block, "CACHED") || block == "" {
			t.Fatalf("%v: the source step was cached:\n%s", tc.args, se)
		}
		for _, step := range []string{"COPY --from=deps", "RUN --mount"} {
			if block := stepBlock(se, step); strings.Contains(block, "CACHED") != tc.cached {
				t.Errorf("%v: %s cached = %v, want %v:\n%s", tc.args, step, !tc.cached, tc.cached, se)
			}
		}
	}
}

// TestBuildRWBind: a rw bind mount lets the step write, and the writes go
// with the step: the context on the host and the bound stage are
// untouched, as in BuildKit.
func TestBuildRWBind(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{
		"Dockerfile": "FROM busybox AS s\nRUN mkdir /data && echo s > /data/f\n" +
			"FROM busybox\n" +
			"RUN --mount=type=bind,rw,target=/src echo x > /src/written && echo y >> /src/input.txt && cat /src/written > /from-context\n" +
			"RUN --mount=type=bind,rw,source=input.txt,target=/in.txt echo z >> /in.txt && cat /in.txt > /file-copy\n" +
			"RUN --mount=type=bind,rw,from=s,source=/data,target=/d echo w > /d/g && cat /d/f /d/g > /from-stage\n" +
			"COPY --from=s /data /stage-data\n",
		"input.txt": "in\n",
	})
	fs := e.files(dir)
	for name, want := range map[string]string{"from-context": "x\n", "file-copy": "in\nz\n", "from-stage": "s\nw\n"} {
		if got := fs[name].PAXRecords["content"]; got != want {
			t.Errorf("/%s = %q, want %q", name, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "written")); err == nil {
		t.Error("a rw bind mount wrote into the context on the host")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "input.txt")); string(b) != "in\n" {
		t.Errorf("the context's input.txt became %q", b)
	}
	if _, ok := fs["stage-data/g"]; ok {
		t.Error("a rw bind mount wrote into the stage it bound")
	}
}

// TestBuildBindIgnore: what .dockerignore leaves out is not in a bind
// mount of the context either, as BuildKit (which never receives it)
// behaves; a step cannot copy an ignored secret into a layer that way.
func TestBuildBindIgnore(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{
		"Dockerfile":        "FROM busybox\nRUN --mount=type=bind,target=/src ls -a /src /src/sub > /listing\nRUN --mount=type=bind,source=sub,target=/sub,rw cat /sub/kept.txt > /kept && echo w > /sub/new\n",
		".dockerignore":     "secret.env\nsub/private.key\nnode_modules\n",
		"secret.env":        "TOKEN=hunter2\n",
		"app.go":            "package main\n",
		"sub/kept.txt":      "kept\n",
		"sub/private.key":   "key\n",
		"node_modules/x.js": "x\n",
	})
	fs := e.files(dir)
	listing := fs["listing"].PAXRecords["content"]
	for _, gone := range []string{"secret.env", "private.key", "node_modules"} {
		if strings.Contains(listing, gone) {
			t.Errorf("%s is visible through the bind mount:\n%s", gone, listing)
		}
	}
	for _, kept := range []string{"app.go", "Dockerfile", "kept.txt"} {
		if !strings.Contains(listing, kept) {
			t.Errorf("%s is missing from the bind mount:\n%s", kept, listing)
		}
	}
	if fs["kept"].PAXRecords["content"] != "kept\n" {
		t.Errorf("/kept = %q", fs["kept"].PAXRecords["content"])
	}
	if _, err := os.Stat(filepath.Join(dir, "sub", "new")); err == nil {
		t.Error("a rw bind of a filtered view wrote into the context")
	}
}

// TestBuildSameSizeSameMtime: a file rewritten with the same size and its
// old mtime put back (touch -d, a tool restoring times) is still a change.
func TestBuildSameSizeSameMtime(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY data.txt /data.txt\n", "data.txt": "aaaa\n"})
	p := filepath.Join(dir, "data.txt")
	when := time.Unix(1700000000, 0)
	os.Chtimes(p, when, when)
	if got := e.files(dir)["data.txt"].PAXRecords["content"]; got != "aaaa\n" {
		t.Fatalf("first build: %q", got)
	}
	write(t, p, "bbbb\n", 0o644)
	os.Chtimes(p, when, when)
	if got := e.files(dir)["data.txt"].PAXRecords["content"]; got != "bbbb\n" {
		t.Fatalf("a same-size, same-mtime rewrite was served from the cache: %q", got)
	}
}

// TestBuildInlineCache: an image built with --cache-to type=inline serves
// as --cache-from after the local cache is gone, in this store or, through
// a registry, in another: its steps are CACHED and the image is the same.
func TestBuildInlineCache(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY app.txt /app.txt\nRUN echo built > /built\n", "app.txt": "v1\n"})
	idOf := func(name string) string {
		t.Helper()
		so, se, code := e.run("", nil, "inspect", "-f", "{{.Id}}", name)
		if code != 0 {
			t.Fatal(se)
		}
		return strings.TrimSpace(so)
	}
	e.mustBuild(dir, "-t", "app:cache", "--cache-to", "type=inline")
	want := idOf("app:cache")
	if _, se, code := e.run("", nil, "builder", "prune", "-a", "-f"); code != 0 {
		t.Fatal(se)
	}
	se := e.mustBuild(dir, "--progress", "plain", "-t", "app:2", "--cache-from", "app:cache", "--build-arg", "BUILDKIT_INLINE_CACHE=1")
	if !strings.Contains(stepBlock(se, "RUN echo built"), "CACHED") || !strings.Contains(stepBlock(se, "COPY app.txt"), "CACHED") {
		t.Fatalf("steps were not served from the inline cache:\n%s", se)
	}
	if got := idOf("app:2"); got != want {
		t.Fatalf("image from the inline cache is %s, want %s", got, want)
	}
	// Another store, through a registry: the cache image is pulled.
	reg := remotetest.Start(t, remotetest.Options{})
	if _, se, code := e.run("", nil, "tag", "app:cache", reg.Host+"/app:cache"); code != 0 {
		t.Fatal(se)
	}
	if _, se, code := e.run("", nil, "push", reg.Host+"/app:cache"); code != 0 {
		t.Fatal(se)
	}
	// The other store gets the same base image (a different base would be
	// a different build, and rightly miss).
	base := filepath.Join(t.TempDir(), "busybox.tar")
	if _, se, code := e.run("", nil, "save", "-o", base, "busybox:latest"); code != 0 {
		t.Fatal(se)
	}
	other := &buildEnv{t: t, bin: e.bin, root: t.TempDir()}
	if _, se, code := other.run("", nil, "load", "-q", "-i", base); code != 0 {
		t.Fatal(se)
	}
	se = other.mustBuild(dir, "--progress", "plain", "-t", "app:3", "--cache-from", "type=registry,ref="+reg.Host+"/app:cache")
	if !strings.Contains(stepBlock(se, "RUN echo built"), "CACHED") {
		t.Fatalf("a registry cache source did not serve the step:\n%s", se)
	}
	// A changed input is a miss, inline cache or not.
	write(t, filepath.Join(dir, "app.txt"), "v2\n", 0o644)
	se = other.mustBuild(dir, "--progress", "plain", "-t", "app:4", "--cache-from", reg.Host+"/app:cache")
	if strings.Contains(stepBlock(se, "RUN echo built"), "CACHED") {
		t.Fatalf("a changed COPY source was served from the inline cache:\n%s", se)
	}
	// The first CI run has no cache image yet: a warning, not a failure.
	if _, stderr, code := e.run(dir, nil, "build", "--progress", "plain", "--cache-from", "127.0.0.1:1/none:1", "."); code != 0 || !strings.Contains(stderr, "[WARNING]: --cache-from 127.0.0.1:1/none:1") {
		t.Fatalf("a missing cache image: exit %d %s", code, stderr)
	}
	if _, stderr, code := e.run(dir, nil, "build", "--cache-to", "type=registry,ref=x", "."); code != 125 || !strings.Contains(stderr, "inline only") {
		t.Fatalf("--cache-to type=registry: exit %d %s", code, stderr)
	}
}

// TestBuildCopyFromKeyKept: the content key of a COPY --from a stage is
// kept between builds under the stage layers' diffIDs (it cost 0.1 s of
// CPU per no-change rebuild of bench/build.sh's Dockerfile to hash the
// stage's 50 MiB again). The kept key serves a no-change rebuild, and a
// change of the copied content (new stage layers) still misses, while a
// COPY of other paths from the same layers gets its own key.
func TestBuildCopyFromKeyKept(t *testing.T) {
	e := newBuildEnv(t)
	df := func(content, src string) map[string]string {
		return map[string]string{"Dockerfile": "FROM busybox AS gen\nRUN mkdir /data && echo " + content + " > /data/a && echo two > /data/b && echo x > /other\n" +
			"FROM busybox\nCOPY --from=gen " + src + " /data\nRUN --mount=type=bind,from=gen,source=/data,target=/d cat /d/a > /a\n"}
	}
	dir := ctxDir(t, df("one", "/data"))
	e.mustBuild(dir, "-t", "memo:1")
	if kept, _ := filepath.Glob(filepath.Join(e.root, "build", "cache", "from", "*.key")); len(kept) == 0 {
		t.Fatal("no content key kept under build/cache/from")
	}
	for _, tc := range []struct {
		content, src string
		cached       bool
	}{
		{"one", "/data", true},
		{"ONE", "/data", false},
		{"ONE", "/other", false},
		{"ONE", "/other", true},
	} {
		for name, data := range df(tc.content, tc.src) {
			os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644)
		}
		se := e.mustBuild(dir, "--progress", "plain", "-t", "memo:1")
		if block := stepBlock(se, "COPY --from=gen"); strings.Contains(block, "CACHED") != tc.cached {
			t.Errorf("%s from %s: COPY --from cached = %v, want %v:\n%s", tc.content, tc.src, !tc.cached, tc.cached, se)
		}
	}
}
