package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
)

func TestBuildFlags(t *testing.T) {
	e := newBuildEnv(t)
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "pkg/readme", Mode: 0o600, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("rd"))
	tw.Close()
	gz.Close()

	dir := ctxDir(t, map[string]string{
		"Dockerfile":                  "FROM busybox AS broken\nRUN exit 9\nFROM busybox AS ok\nCOPY . /ctx/\nADD pkg.tgz /opt/\n",
		"keep.txt":                    "k",
		"secret.key":                  "s",
		".dockerignore":               "secret.key\n",
		"alt/Dockerfile":              "FROM busybox\nCOPY . /ctx/\n",
		"alt/Dockerfile.dockerignore": "keep.txt\n",
	})
	write(t, filepath.Join(dir, "pkg.tgz"), tgz.String(), 0o644)

	t.Run("target skips unneeded failing stage, ignore and ADD extraction", func(t *testing.T) {
		iid := filepath.Join(t.TempDir(), "iid")
		fs := e.files(dir, "--target", "ok", "--iidfile", iid)
		if _, ok := fs["ctx/keep.txt"]; !ok {
			t.Error("keep.txt missing")
		}
		if _, ok := fs["ctx/secret.key"]; ok {
			t.Error(".dockerignore not applied")
		}
		if h, ok := fs["opt/pkg/readme"]; !ok || h.PAXRecords["content"] != "rd" || h.Mode&0o777 != 0o600 {
			t.Errorf("ADD did not extract the archive: %v", h)
		}
		if data, err := os.ReadFile(iid); err != nil || !strings.HasPrefix(string(data), "sha256:") {
			t.Errorf("iidfile: %q %v", data, err)
		}
	})
	t.Run("Dockerfile.dockerignore takes precedence", func(t *testing.T) {
		fs := e.files(dir, "-f", filepath.Join(dir, "alt/Dockerfile"))
		if _, ok := fs["ctx/keep.txt"]; ok {
			t.Error("alt/Dockerfile.dockerignore not applied")
		}
		if _, ok := fs["ctx/secret.key"]; !ok {
			t.Error(".dockerignore applied although Dockerfile.dockerignore exists")
		}
	})
	t.Run("dockerfile from stdin", func(t *testing.T) {
		so, se, code := e.run(dir, strings.NewReader("FROM busybox\nCOPY keep.txt /k\n"), "build", "-q", "-f", "-", "-t", "stdin:1", ".")
		if code != 0 || !strings.HasPrefix(so, "sha256:") {
			t.Fatalf("exit %d: %s%s", code, so, se)
		}
	})
	t.Run("context tar from stdin", func(t *testing.T) {
		ctxTar := tarOf(map[string]string{"Dockerfile": "FROM busybox\nCOPY hello /hello\n", "hello": "hi"})
		so, se, code := e.run("", ctxTar, "build", "-q", "-t", "tarctx:1", "-")
		if code != 0 || !strings.HasPrefix(so, "sha256:") {
			t.Fatalf("exit %d: %s%s", code, so, se)
		}
	})
	t.Run("oci and docker outputs with zstd", func(t *testing.T) {
		for _, typ := range []string{"oci", "docker"} {
			dest := filepath.Join(t.TempDir(), typ+".tar")
			_, se, code := e.run(dir, nil, "build", "-q", "--target", "ok", "--compression", "zstd", "--output", "type="+typ+",dest="+dest, "-t", "out:1", ".")
			if code != 0 {
				t.Fatalf("%s: exit %d: %s", typ, code, se)
			}
			f, err := os.Open(dest)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			tr := tar.NewReader(f)
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				names[h.Name] = true
			}
			f.Close()
			want := "index.json"
			if typ == "docker" {
				want = "manifest.json"
			}
			if !names[want] {
				t.Errorf("%s output lacks %s: %v", typ, want, names)
			}
		}
	})
}

func TestBuildReproducible(t *testing.T) {
	var ids []string
	for i := 0; i < 2; i++ {
		e := newBuildEnv(t)
		dir := ctxDir(t, map[string]string{
			"Dockerfile": "FROM busybox\nCOPY a /a\nRUN echo x > /b && touch /c\nWORKDIR /w\nENV A=1\n",
			"a":          "a",
		})
		os.Setenv("SOURCE_DATE_EPOCH", "1700000000")
		so, se, code := e.run(dir, nil, "build", "-q", "-t", "r:1", ".")
		os.Unsetenv("SOURCE_DATE_EPOCH")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, se)
		}
		ids = append(ids, strings.TrimSpace(so))
	}
	if ids[0] != ids[1] {
		t.Fatalf("two clean stores gave different images: %v", ids)
	}
}

func TestBuildOnbuildMountsCopyFlags(t *testing.T) {
	e := newBuildEnv(t)
	parent := ctxDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nONBUILD COPY trigger.txt /trigger.txt\nONBUILD RUN echo ran > /onbuild\n",
	})
	e.mustBuild(parent, "-t", "parent:1")
	if ob := e.inspect("parent:1")["Config"].(map[string]any)["OnBuild"]; ob == nil {
		t.Fatal("parent lacks OnBuild triggers")
	}
	secret := filepath.Join(t.TempDir(), "token")
	write(t, secret, "s3cr3t", 0o600)
	child := ctxDir(t, map[string]string{
		"Dockerfile": `FROM parent:1
RUN --mount=type=cache,target=/cache echo x >> /cache/count && wc -l < /cache/count > /cache-lines
RUN --mount=type=secret,id=token cat /run/secrets/token > /dev/null && test -f /run/secrets/token && echo ok > /secret-ok
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && test -f /scratch/x
COPY --parents src/a/*.txt /p/
COPY --exclude=*.log logs/ /logs/
COPY --link src/a/one.txt /linked.txt
COPY --parents src/./a/one.txt /pv/
RUN --mount=type=bind,source=src,target=/mnt cat /mnt/a/one.txt > /bound
`,
		"trigger.txt":   "t",
		"src/a/one.txt": "1",
		"src/a/two.txt": "2",
		"logs/keep.txt": "k",
		"logs/drop.log": "d",
	})
	so, se, code := e.run(child, nil, "build", "--build-arg", "UNUSED=1", "--secret", "id=token,src="+secret, "-t", "child:1", ".")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, so, se)
	}
	if !strings.Contains(se, "[Warning] One or more build-args [UNUSED] were not consumed") {
		t.Errorf("no unused build-arg warning:\n%s", se)
	}
	fs := e.files(child, "--secret", "id=token,src="+secret)
	for _, p := range []string{"trigger.txt", "onbuild", "secret-ok", "p/src/a/one.txt", "p/src/a/two.txt", "logs/keep.txt", "linked.txt", "pv/a/one.txt", "bound"} {
		if _, ok := fs[p]; !ok {
			t.Errorf("%s missing from the image", p)
		}
	}
	for _, p := range []string{"run/secrets/token", "scratch/x", "cache/count", "logs/drop.log", "mnt/a/one.txt", "pv/src"} {
		if _, ok := fs[p]; ok {
			t.Errorf("%s must not be in the image", p)
		}
	}
	for p, h := range fs {
		if strings.Contains(h.PAXRecords["content"], "s3cr3t") {
			t.Errorf("secret leaked into %s", p)
		}
	}
	if ob := e.inspect("child:1")["Config"].(map[string]any)["OnBuild"]; ob != nil {
		t.Errorf("child kept the parent's triggers: %v", ob)
	}
	// The cache mount persists: a rebuild without cache sees two lines.
	e.mustBuild(child, "--no-cache", "--secret", "id=token,src="+secret, "-t", "child:2")
	fs = e.files(child, "--secret", "id=token,src="+secret)
	if got := strings.TrimSpace(fs["cache-lines"].PAXRecords["content"]); got != "2" {
		t.Errorf("cache mount did not persist: %q lines", got)
	}
}

func TestBuildAddURL(t *testing.T) {
	e := newBuildEnv(t)
	body := "downloaded content\n"
	var changing atomic.Value
	changing.Store("one\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/files/changing.txt" {
			io.WriteString(w, changing.Load().(string))
			return
		}
		if r.URL.Path != "/files/tool.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Last-Modified", "Tue, 14 Nov 2023 22:13:20 GMT")
		io.WriteString(w, body)
	}))
	defer srv.Close()
	sum := sha256.Sum256([]byte(body))
	good := "sha256:" + hex.EncodeToString(sum[:])
	tests := []struct {
		name, checksum string
		ok             bool
		want           string
	}{
		{"checksum ok", good, true, ""},
		{"checksum mismatch", "sha256:" + strings.Repeat("0", 64), false, "digest mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nADD --checksum=" + tc.checksum + " " + srv.URL + "/files/tool.txt /dl/\n"})
			if !tc.ok {
				_, se, code := e.run(dir, nil, "build", ".")
				if code != 1 || !strings.Contains(se, tc.want) || !strings.Contains(se, "Dockerfile:2:") {
					t.Fatalf("exit %d:\n%s", code, se)
				}
				return
			}
			fs := e.files(dir)
			h, ok := fs["dl/tool.txt"]
			if !ok || h.PAXRecords["content"] != body || h.Mode&0o777 != 0o600 || h.ModTime.Unix() != 1700000000 {
				t.Fatalf("downloaded file: %+v", h)
			}
		})
	}
	// Without --checksum the content keys the cache: the same bytes are a
	// hit, changed bytes a miss (never the stale file).
	t.Run("content keys the cache", func(t *testing.T) {
		dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nADD " + srv.URL + "/files/changing.txt /dl/\n"})
		for i, v := range []string{"one\n", "one\n", "two\n"} {
			changing.Store(v)
			se := e.mustBuild(dir, "-t", "addurl:1")
			cached := strings.Contains(stepBlock(se, "ADD "), "CACHED")
			if cached != (i == 1) {
				t.Fatalf("build %d (content %q): cached %v:\n%s", i, v, cached, se)
			}
			if i == 2 && !strings.Contains(stepBlock(se, "ADD "), "1 file changed: "+srv.URL+"/files/changing.txt") {
				t.Fatalf("the miss does not name the changed URL:\n%s", se)
			}
			if got := e.files(dir)["dl/changing.txt"].PAXRecords["content"]; got != v {
				t.Fatalf("build %d: file holds %q, want %q", i, got, v)
			}
		}
	})
}

// TestBuildInterrupt: Ctrl-C during a RUN stops the build with status 130
// and leaves no temporary directory behind.
func TestBuildInterrupt(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY . /ctx\nRUN echo started && sleep 30\n"})
	cmd := exec.Command(e.bin, "--root", e.root, "build", "--progress", "plain", ".")
	cmd.Dir = dir
	var se bytes.Buffer
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(&se, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		var acc []byte
		for {
			n, err := pr.Read(buf)
			acc = append(acc, buf[:n]...)
			if bytes.Contains(acc, []byte(" started\n")) {
				close(started)
				io.Copy(io.Discard, pr)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("RUN never started:\n%s", se.String())
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("build did not stop on SIGINT:\n%s", se.String())
	}
	pw.Close()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130:\n%s", code, se.String())
	}
	ents, _ := os.ReadDir(filepath.Join(e.root, "build", "tmp"))
	if len(ents) != 0 {
		t.Errorf("left behind in build/tmp: %v", ents)
	}
}

// TestBuildCopyLink: a COPY --link layer is reused when an earlier step
// changes; a plain COPY after the same change is not.
func TestBuildCopyLink(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nARG V=1\nRUN echo $V > /v\nCOPY --link app.txt /opt/app/\nCOPY app.txt /opt/plain/\n",
		"app.txt":    "app",
	})
	e.mustBuild(dir, "-t", "link:1")
	se := e.mustBuild(dir, "-t", "link:1", "--build-arg", "V=2")
	if b := stepBlock(se, "COPY --link app.txt"); !strings.Contains(b, "CACHED") {
		t.Errorf("linked COPY not reused after an earlier change:\n%s", b)
	}
	if b := stepBlock(se, "COPY app.txt"); strings.Contains(b, "CACHED") {
		t.Errorf("plain COPY reused after an earlier change:\n%s", b)
	}
	fs := e.files(dir, "--build-arg", "V=2")
	if h := fs["opt/app/app.txt"]; h == nil || h.PAXRecords["content"] != "app" {
		t.Errorf("linked file missing: %v", h)
	}
	if h := fs["v"]; h == nil || h.PAXRecords["content"] != "2\n" {
		t.Errorf("RUN result wrong: %v", h)
	}
}

// TestBuildArgFromEnvAndNetwork: --build-arg NAME takes the value from the
// environment; --network none leaves RUN with loopback only.
func TestBuildArgFromEnvAndNetwork(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nARG FROMENV\nRUN echo \"$FROMENV\" > /arg && cat /proc/net/dev > /netdev\n",
	})
	os.Setenv("FROMENV", "env-value")
	defer os.Unsetenv("FROMENV")
	fs := e.files(dir, "--build-arg", "FROMENV", "--network", "none")
	if got := fs["arg"].PAXRecords["content"]; got != "env-value\n" {
		t.Errorf("build arg from env: %q", got)
	}
	var ifaces []string
	for _, line := range strings.Split(fs["netdev"].PAXRecords["content"], "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	if len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Errorf("--network none: interfaces %v, want only lo", ifaces)
	}
}

// TestBuildSweepsDeadTemps: the scratch directory of a build killed with -9
// (its lock free) is removed by the next build; a locked one is kept.
func TestBuildSweepsDeadTemps(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	tmpRoot := filepath.Join(e.root, "build", "tmp")
	dead := filepath.Join(tmpRoot, "build-dead")
	write(t, filepath.Join(dead, "junk"), "x", 0o644)
	write(t, dead+".lock", "", 0o644)
	live := filepath.Join(tmpRoot, "build-live")
	write(t, filepath.Join(live, "junk"), "x", 0o644)
	unlock, ok, err := fsutil.TryLock(live + ".lock")
	if err != nil || !ok {
		t.Fatalf("lock: %v", err)
	}
	defer unlock()
	e.mustBuild(dir)
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("dead build's scratch dir kept: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a running build's scratch dir was removed: %v", err)
	}
}

// TestBuildSecretRelative: --secret src= relative to the working directory
// works, as with buildx, and a missing file fails before the build starts,
// even when the step that mounts it would come from the cache.
func TestBuildSecretRelative(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=x cat /run/secrets/x > /got\n", "tok": "s3cret\n"})
	if fs := e.files(dir, "--secret", "id=x,src=tok"); fs["got"] == nil || fs["got"].PAXRecords["content"] != "s3cret\n" {
		t.Fatalf("/got = %+v", fs["got"])
	}
	e.mustBuild(dir, "--secret", "id=x,src=tok")
	so, se, code := e.run(dir, nil, "build", "--progress", "plain", "--secret", "id=x,src=gone", ".")
	if code != 1 || !strings.Contains(se, "failed to stat gone: stat gone: no such file or directory") || strings.Contains(se, "RUN") {
		t.Fatalf("missing secret file: exit %d\n%s%s", code, so, se)
	}
}

// TestBuildOnbuildOfStage: a stage built FROM an earlier stage of the same
// Dockerfile runs that stage's ONBUILD triggers, as Docker's builders do
// (as if the stage had been built into an image first); the triggers are
// spent there, so a stage FROM that one does not run them again, and the
// declaring stage's own image keeps them.
func TestBuildOnbuildOfStage(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox AS base\nONBUILD RUN echo x >> /trig\nONBUILD ENV TRIGGERED=yes\n" +
		"FROM base AS mid\nRUN cat /trig > /seen\nFROM mid\nRUN cat /trig > /seen-again\n"})
	fs := e.files(dir)
	for name, want := range map[string]string{"trig": "x\n", "seen": "x\n", "seen-again": "x\n"} {
		if h := fs[name]; h == nil || h.PAXRecords["content"] != want {
			t.Errorf("/%s: %+v, want %q", name, h, want)
		}
	}
	e.mustBuild(dir, "-t", "onb:final")
	cfg := e.inspect("onb:final")["Config"].(map[string]any)
	if cfg["OnBuild"] != nil {
		t.Errorf("the final image keeps spent triggers: %v", cfg["OnBuild"])
	}
	if env := fmt.Sprint(cfg["Env"]); !strings.Contains(env, "TRIGGERED=yes") {
		t.Errorf("the ENV trigger did not run: %s", env)
	}
	e.mustBuild(dir, "-t", "onb:base", "--target", "base")
	if got := fmt.Sprint(e.inspect("onb:base")["Config"].(map[string]any)["OnBuild"]); got != "[RUN echo x >> /trig ENV TRIGGERED=yes]" {
		t.Errorf("the declaring stage's OnBuild = %s", got)
	}
}

// TestBuildOnbuildFromStage: an ONBUILD trigger's COPY --from names a stage
// the plan did not know was needed; it is built on demand.
func TestBuildOnbuildFromStage(t *testing.T) {
	e := newBuildEnv(t)
	e.mustBuild(ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nONBUILD COPY --from=helper /made /made\n"}), "-t", "trig:1")
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox AS helper\nRUN echo helped > /made\nFROM trig:1\n"})
	// A hang here (a stage waited for but never started) ends in go
	// test's timeout.
	fs := e.files(dir)
	if h := fs["made"]; h == nil || h.PAXRecords["content"] != "helped\n" {
		t.Fatalf("trigger's COPY --from result: %+v", h)
	}
}

// TestBuildBindFromStage: RUN --mount=type=bind,from=<stage> sees that
// stage's files (read-only) and nothing of them lands in the layer.
func TestBuildBindFromStage(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": `FROM busybox AS tools
RUN mkdir -p /opt/tool && echo v1 > /opt/tool/version
FROM busybox
RUN --mount=type=bind,from=tools,source=/opt/tool,target=/mnt/tool cat /mnt/tool/version > /seen
RUN --mount=type=bind,from=tools,target=/t cat /t/opt/tool/version > /seen-root
`})
	fs := e.files(dir)
	if got := fs["seen"].PAXRecords["content"]; got != "v1\n" {
		t.Errorf("bind from stage (source): %q", got)
	}
	if got := fs["seen-root"].PAXRecords["content"]; got != "v1\n" {
		t.Errorf("bind from stage (root): %q", got)
	}
	for _, p := range []string{"mnt/tool/version", "t/opt/tool/version", "opt/tool/version"} {
		if _, ok := fs[p]; ok {
			t.Errorf("%s leaked into the image", p)
		}
	}
}
