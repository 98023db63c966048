package cli_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
)

// buildEnv is a store with a busybox base image imported from a root
// filesystem holding Debian's busybox-static.
type buildEnv struct {
	t       *testing.T
	bin     string
	root    string
	baseTar string // the base root filesystem as a tar, for peers
}

func newBuildEnv(t *testing.T) *buildEnv {
	t.Helper()
	bb := testenv.BusyboxStatic(t)
	e := &buildEnv{t: t, bin: testenv.Berth(t), root: t.TempDir()}
	rootfs := t.TempDir()
	for _, d := range []string{"bin", "etc", "tmp", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	// A merged-/usr style link: COPY and WORKDIR must write through it.
	if err := os.Symlink("usr/lib", filepath.Join(rootfs, "lib")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(rootfs, "bin/busybox"), string(data), 0o755)
	for _, l := range []string{"sh", "cat", "ls", "echo", "mkdir", "id", "stat", "true", "dd", "seq", "touch", "rm", "wc", "test", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", l)); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n", 0o644)
	write(t, filepath.Join(rootfs, "etc/group"), "root:x:0:\napp:x:1000:\nstaff:x:50:\n", 0o644)
	tarPath := filepath.Join(t.TempDir(), "rootfs.tar")
	e.baseTar = tarPath
	out, err := exec.Command("tar", "--sort=name", "--mtime=@1600000000", "--owner=0", "--group=0", "--numeric-owner", "-C", rootfs, "-cf", tarPath, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	// Imported by relative name: the history comment then names the same
	// file in every store, so two stores hold the very same base image.
	if _, stderr, code := e.run(filepath.Dir(tarPath), nil, "import", "rootfs.tar", "busybox:latest"); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	return e
}

func write(t *testing.T, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func (e *buildEnv) run(dir string, stdin io.Reader, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(e.bin, append([]string{"--root", e.root}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), "BERTH_ROOT="+e.root)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return so.String(), se.String(), code
}

// ctxDir makes a build context from files (path → content).
func ctxDir(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for p, c := range files {
		write(t, filepath.Join(dir, p), c, 0o644)
	}
	return dir
}

func (e *buildEnv) mustBuild(dir string, args ...string) string {
	e.t.Helper()
	so, se, code := e.run(dir, nil, append([]string{"build"}, append(args, ".")...)...)
	if code != 0 {
		e.t.Fatalf("build failed (%d):\n%s%s", code, so, se)
	}
	return se
}

func (e *buildEnv) inspect(name string) map[string]any {
	e.t.Helper()
	so, se, code := e.run("", nil, "inspect", name)
	if code != 0 {
		e.t.Fatalf("inspect: %s", se)
	}
	var v []map[string]any
	if err := json.Unmarshal([]byte(so), &v); err != nil || len(v) != 1 {
		e.t.Fatalf("inspect output: %v\n%s", err, so)
	}
	return v[0]
}

// files returns the flattened filesystem of name (via --output type=tar).
func (e *buildEnv) files(dir string, args ...string) map[string]*tar.Header {
	e.t.Helper()
	so, se, code := e.run(dir, nil, append([]string{"build", "-q", "--output", "type=tar,dest=-"}, append(args, ".")...)...)
	if code != 0 {
		e.t.Fatalf("build: %s", se)
	}
	return readTar(so)
}

// readTar indexes a tar by path ("./" and a trailing "/" trimmed); each
// regular file's content is in its PAXRecords["content"].
func readTar(data string) map[string]*tar.Header {
	out := map[string]*tar.Header{}
	tr := tar.NewReader(strings.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			h.PAXRecords = map[string]string{"content": string(data)}
		}
		out[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = h
	}
	return out
}

// tarOf is a tar of regular files (path → content), as a build context.
func tarOf(files map[string]string) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	return &buf
}

func TestBuildInstructions(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{
		"Dockerfile": `ARG BASE=busybox
FROM ${BASE} AS base
ARG V=1
ENV GREETING=hello APP=/app
LABEL org.example.v=$V
WORKDIR $APP
COPY --chown=app:staff --chmod=640 a.txt ./
COPY dir/ sub/
COPY <<EOF /etc/heredoc
hi $GREETING
EOF
RUN <<EOF
echo "$GREETING $V" > /app/run.txt
EOF
RUN <<EOF
#!/bin/sh
echo shebang > /app/sb.txt
EOF
RUN cat <<A > /app/multi.txt
line
A
USER app
RUN id -u > /tmp/uid
SHELL ["/bin/sh", "-c"]
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD true
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo $GREETING
`,
		"a.txt":       "A",
		"dir/b.txt":   "B",
		"dir/c/d.txt": "D",
	})
	e.mustBuild(dir, "-t", "inst:1", "--build-arg", "V=2", "--label", "extra=yes")
	img := e.inspect("inst:1")
	cfg := img["Config"].(map[string]any)
	checks := map[string]string{
		"WorkingDir": "/app", "User": "app", "StopSignal": "SIGTERM",
	}
	for k, want := range checks {
		if got, _ := cfg[k].(string); got != want {
			t.Errorf("Config.%s = %q, want %q", k, got, want)
		}
	}
	labels := cfg["Labels"].(map[string]any)
	if labels["org.example.v"] != "2" || labels["extra"] != "yes" {
		t.Errorf("labels %v", labels)
	}
	if _, ok := cfg["ExposedPorts"].(map[string]any)["53/udp"]; !ok {
		t.Errorf("ports %v", cfg["ExposedPorts"])
	}
	if got := cfg["Cmd"].([]any); len(got) != 3 || got[2] != "echo $GREETING" {
		t.Errorf("Cmd %v", got)
	}
	so, _, _ := e.run("", nil, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "inst:1")
	for _, want := range []string{
		"CMD [\"/bin/sh\" \"-c\" \"echo $GREETING\"]",
		"RUN |1 V=2 /bin/sh -c id -u > /tmp/uid # buildkit",
		"COPY --chown=app:staff --chmod=640 a.txt ./ # buildkit",
		"COPY <<EOF /etc/heredoc # buildkit",
		"WORKDIR /app",
		"ENV GREETING=hello APP=/app",
		"ARG V=2",
		"EXPOSE [53/udp 8080/tcp]",
	} {
		if !strings.Contains(so, want+"\n") {
			t.Errorf("history lacks %q:\n%s", want, so)
		}
	}
	fs := e.files(dir, "--build-arg", "V=2")
	tests := []struct {
		path, content string
		mode          int64
		uid, gid      int
	}{
		{"app/a.txt", "A", 0o640, 1000, 50},
		{"app/sub/b.txt", "B", 0o644, 0, 0},
		{"app/sub/c/d.txt", "D", 0o644, 0, 0},
		{"etc/heredoc", "hi hello\n", 0o644, 0, 0},
		{"app/run.txt", "hello 2\n", 0o644, 0, 0},
		{"app/sb.txt", "shebang\n", 0o644, 0, 0},
		{"app/multi.txt", "line\n", 0o644, 0, 0},
		{"tmp/uid", "1000\n", 0o644, 1000, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			h, ok := fs[tc.path]
			if !ok {
				t.Fatalf("missing %s", tc.path)
			}
			if h.PAXRecords["content"] != tc.content || h.Mode&0o7777 != tc.mode || h.Uid != tc.uid || h.Gid != tc.gid {
				t.Fatalf("%s: content %q mode %o owner %d:%d", tc.path, h.PAXRecords["content"], h.Mode, h.Uid, h.Gid)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	e := newBuildEnv(t)
	tests := []struct {
		name, dockerfile string
		args             []string
		code             int
		want             []string
	}{
		{"unknown instruction", "FROM busybox\nRUN true\nRUNN x\n", nil, 1, []string{"Dockerfile:3: unknown instruction: RUNN"}},
		{"failing run", "FROM busybox\nRUN echo before-fail && exit 3\n", nil, 1, []string{"before-fail", "Dockerfile:2:", "exit code: 3"}},
		{"missing image", "FROM nosuch/image:1\n", nil, 1, []string{"no such image in the local store, and pulling it failed"}},
		{"missing source", "FROM busybox\nCOPY nothere /x\n", nil, 1, []string{"Dockerfile:2:", "\"/nothere\": not found"}},
		{"bad target", "FROM busybox AS a\n", []string{"--target", "b"}, 1, []string{"target stage \"b\" could not be found"}},
		{"bad output", "FROM busybox\n", []string{"--output", "type=nope"}, 125, []string{"invalid output"}},
		{"bad compression", "FROM busybox\n", []string{"--compression", "lz4"}, 125, []string{"--compression"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := ctxDir(t, map[string]string{"Dockerfile": tc.dockerfile})
			_, se, code := e.run(dir, nil, append([]string{"build"}, append(tc.args, ".")...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, se)
			}
			for _, w := range tc.want {
				if !strings.Contains(se, w) {
					t.Errorf("stderr lacks %q:\n%s", w, se)
				}
			}
			if strings.Contains(se, "goroutine") {
				t.Errorf("stack trace in output:\n%s", se)
			}
		})
	}
}

func TestBuildCache(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{
		"Dockerfile":  "FROM busybox\nARG V=1\nRUN echo base > /base\nCOPY src/ /app/\nRUN cat /app/main.go > /out\nCOPY other.txt /\n",
		"src/main.go": "package main\n",
		"src/util.go": "package util\n",
		"other.txt":   "o",
	})
	e.mustBuild(dir, "-t", "c:1")
	type step struct{ name, want string }
	tests := []struct {
		name   string
		change func()
		args   []string
		steps  []step
	}{
		{"no change", func() {}, nil, []step{{"RUN echo base", "CACHED"}, {"COPY src/ /app/", "CACHED"}, {"RUN cat", "CACHED"}, {"COPY other.txt", "CACHED"}}},
		{"one file", func() { write(t, filepath.Join(dir, "src/main.go"), "package main // v2\n", 0o644) }, nil,
			[]step{{"RUN echo base", "CACHED"}, {"COPY src/ /app/", "1 file changed: src/main.go"}, {"RUN cat", "earlier step changed: COPY src/ /app/"}, {"COPY other.txt", "earlier step changed"}}},
		{"touch only", func() {
			os.Chtimes(filepath.Join(dir, "src/util.go"), timeNow(), timeNow())
		}, nil, []step{{"COPY src/ /app/", "CACHED"}, {"RUN cat", "CACHED"}}},
		{"build arg", func() {}, []string{"--build-arg", "V=2"},
			[]step{{"RUN echo base", "build arg V changed"}, {"COPY src/ /app/", "earlier step changed: RUN echo base"}}},
		{"unrelated file", func() { write(t, filepath.Join(dir, "other.txt"), "o2", 0o644) }, []string{"--build-arg", "V=2"},
			[]step{{"RUN echo base", "CACHED"}, {"RUN cat", "CACHED"}, {"COPY other.txt", "1 file changed: other.txt"}}},
		{"instruction", func() {
			write(t, filepath.Join(dir, "Dockerfile"), "FROM busybox\nARG V=1\nRUN echo base > /base\nCOPY src/ /app/\nRUN cat /app/main.go > /out2\nCOPY other.txt /\n", 0o644)
		}, []string{"--build-arg", "V=2"}, []step{{"COPY src/ /app/", "CACHED"}, {"RUN cat", "instruction changed"}, {"COPY other.txt", "earlier step changed: RUN cat"}}},
		{"no-cache", func() {}, []string{"--build-arg", "V=2", "--no-cache"}, []step{{"RUN echo base", "DONE"}, {"COPY other.txt", "DONE"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.change()
			se := e.mustBuild(dir, append([]string{"-t", "c:1"}, tc.args...)...)
			for _, s := range tc.steps {
				block := stepBlock(se, s.name)
				if block == "" {
					t.Fatalf("no step %q in:\n%s", s.name, se)
				}
				if !strings.Contains(block, s.want) {
					t.Errorf("step %q: want %q in:\n%s", s.name, s.want, block)
				}
				if s.want != "CACHED" && strings.Contains(block, "CACHED") {
					t.Errorf("step %q was cached:\n%s", s.name, block)
				}
			}
		})
	}
}

// stepBlock returns the progress lines of the vertex whose name contains
// name ("#N [k/n] RUN …" and every "#N …" line after it).
func stepBlock(out, name string) string {
	var id string
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, " ", 2)
		if len(f) < 2 {
			continue
		}
		if id == "" && strings.Contains(f[1], "] "+name) {
			id = f[0]
		}
		if id != "" && f[0] == id {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func timeNow() time.Time { return time.Now().Add(time.Minute) }
