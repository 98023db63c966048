package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	"github.com/berth-dev/berth/internal/testenv"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	gremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"
)

// berthEnv is an isolated berth: its own store, Docker config and settings.
type berthEnv struct {
	bin string
	env []string
	dir string
}

func newBerthEnv(t *testing.T) *berthEnv {
	t.Helper()
	dir := t.TempDir()
	return &berthEnv{
		bin: testenv.Berth(t),
		dir: dir,
		env: append([]string{},
			"BERTH_ROOT="+filepath.Join(dir, "root"),
			"DOCKER_CONFIG="+filepath.Join(dir, "docker"),
			"BERTH_CONFIG="+filepath.Join(dir, "berth.json"),
			"HOME="+dir,
		),
	}
}

func (b *berthEnv) run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := testenv.Run(t, b.bin, testenv.Cmd{Args: args, Env: b.env, Stdin: strings.NewReader(stdin)})
	return r.Stdout, r.Stderr, r.Code
}

// seedRandom pushes a random image of layers layers, each about size bytes,
// with go-containerregistry (an independent client) and returns it.
func seedRandom(t *testing.T, ref string, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := gremote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return img
}

// seed pushes a random image of small (32 KiB) layers.
func seed(t *testing.T, ref string, layers int) v1.Image {
	t.Helper()
	return seedRandom(t, ref, 32<<10, int64(layers))
}

func TestPullPushOutput(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	img := seed(t, reg.Host+"/app/web:v1", 2)
	dig, _ := img.Digest()
	b := newBerthEnv(t)
	ref := reg.Host + "/app/web:v1"

	out, errOut, code := b.run(t, "", "pull", ref)
	if code != 0 {
		t.Fatalf("pull exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "\x1b") {
		t.Fatalf("escape codes in non-terminal output:\n%q", out)
	}
	ls, _ := img.Layers()
	want := []string{"v1: Pulling from app/web"}
	for _, l := range ls {
		d, _ := l.Digest()
		want = append(want, d.Hex[:12]+": Pulling fs layer", d.Hex[:12]+": Pull complete")
	}
	want = append(want, "Digest: "+dig.String(), "Status: Downloaded newer image for "+ref, ref+"\n")
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("pull output lacks %q:\n%s", w, out)
		}
	}
	if !strings.HasSuffix(out, ref+"\n") {
		t.Fatalf("last line is not the reference:\n%s", out)
	}

	out, _, code = b.run(t, "", "pull", ref)
	if code != 0 || !strings.Contains(out, "Already exists") || !strings.Contains(out, "Status: Image is up to date for "+ref) {
		t.Fatalf("second pull (exit %d):\n%s", code, out)
	}
	out, _, code = b.run(t, "", "image", "pull", "-q", ref)
	if code != 0 || out != ref+"\n" {
		t.Fatalf("pull -q (exit %d): %q", code, out)
	}

	out, errOut, code = b.run(t, "", "push", ref)
	if code != 0 {
		t.Fatalf("push exit %d: %s", code, errOut)
	}
	sz, _ := img.RawManifest()
	line := regexp.MustCompile(`(?m)^v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$`).FindStringSubmatch(out)
	if line == nil || line[1] != dig.String() || line[2] != strconv.Itoa(len(sz)) {
		t.Fatalf("push output:\n%s", out)
	}
	if !strings.HasPrefix(out, "The push refers to repository ["+reg.Host+"/app/web]\n") || !strings.Contains(out, "Layer already exists") {
		t.Fatalf("push output:\n%s", out)
	}
}

func TestRemoteErrorsCLI(t *testing.T) {
	plain := remotetest.Start(t, remotetest.Options{})
	authed := remotetest.Start(t, remotetest.Options{User: "u", Password: "p"})
	tlsReg := remotetest.Start(t, remotetest.Options{TLS: true})
	b := newBerthEnv(t)
	tests := []struct {
		name      string
		args      []string
		code      int
		err, hint string
	}{
		{"unreachable", []string{"pull", "127.0.0.1:1/a:b"}, 1, "berth: error: cannot reach registry 127.0.0.1:1: dial 127.0.0.1:1: connection refused", "hint: check the registry address"},
		{"auth", []string{"pull", authed.Host + "/a:b"}, 1, "berth: error: unauthorized: access to " + authed.Host + "/a:b denied", "hint: to authenticate, run: berth login " + authed.Host},
		{"not found", []string{"pull", plain.Host + "/a:missing"}, 1, "berth: error: manifest unknown: " + plain.Host + "/a:missing", "hint: check the repository name"},
		{"tls", []string{"pull", tlsReg.Host + "/a:b"}, 1, "berth: error: TLS verification of " + tlsReg.Host + " failed: certificate signed by unknown authority", "--insecure-registry " + tlsReg.Host},
		{"bad reference", []string{"pull", "upper/Case"}, 1, "invalid reference format", ""},
		{"bad platform", []string{"pull", "--platform", "linux/amd64/v1/x", "x"}, 125, "invalid platform", ""},
		{"push missing", []string{"push", plain.Host + "/nothere:v1"}, 1, "An image does not exist locally with the tag: " + plain.Host + "/nothere", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := b.run(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.err) || !strings.Contains(errOut, tt.hint) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d with %q and %q", code, errOut, tt.code, tt.err, tt.hint)
			}
			if strings.Contains(errOut, "goroutine") {
				t.Fatalf("stack trace:\n%s", errOut)
			}
		})
	}
}

func TestLoginLogoutCLI(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{User: "alice", Password: "s3cret"})
	b := newBerthEnv(t)
	_, errOut, code := b.run(t, "wrong\n", "login", "-u", "alice", "--password-stdin", reg.Host)
	if code != 1 || !strings.Contains(errOut, "login to "+reg.Host+" failed: unauthorized") {
		t.Fatalf("bad password: exit %d\n%s", code, errOut)
	}
	out, errOut, code := b.run(t, "s3cret\n", "login", "-u", "alice", "--password-stdin", reg.Host)
	if code != 0 || out != "Login Succeeded\n" || !strings.Contains(errOut, "stored unencrypted") {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	raw, err := os.ReadFile(filepath.Join(b.dir, "docker", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	json.Unmarshal(raw, &cfg)
	if cfg.Auths[reg.Host].Auth == "" {
		t.Fatalf("config.json:\n%s", raw)
	}
	// The saved login is what pull uses; skopeo reads it too.
	seedAuthed(t, reg.Host+"/priv/img:v1", "alice", "s3cret")
	if _, errOut, code := b.run(t, "", "pull", "-q", reg.Host+"/priv/img:v1"); code != 0 {
		t.Fatalf("pull with saved login: %s", errOut)
	}
	remotetest.Skopeo(t, "inspect", "--tls-verify=false", "--authfile", filepath.Join(b.dir, "docker", "config.json"), "docker://"+reg.Host+"/priv/img:v1")
	// No TTY and no credentials: Docker's refusal.
	_, errOut, code = b.run(t, "", "login", "127.0.0.1:1")
	if code != 1 || !strings.Contains(errOut, "Cannot perform an interactive login from a non TTY device") {
		t.Fatalf("non-TTY login: exit %d\n%s", code, errOut)
	}
	_, _, code = b.run(t, "", "login", "-p", "x", "--password-stdin", "-u", "a", reg.Host)
	if code != 125 {
		t.Fatalf("-p with --password-stdin: exit %d, want 125", code)
	}
	out, _, _ = b.run(t, "", "logout", reg.Host)
	if out != "Removing login credentials for "+reg.Host+"\n" {
		t.Fatalf("logout: %q", out)
	}
	out, _, _ = b.run(t, "", "logout", reg.Host)
	if out != "Not logged in to "+reg.Host+"\n" {
		t.Fatalf("second logout: %q", out)
	}
}

func seedAuthed(t *testing.T, ref, user, pass string) {
	t.Helper()
	img, _ := random.Image(8<<10, 1)
	r, _ := name.ParseReference(ref)
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})
	if err := gremote.Write(r, img, gremote.WithAuth(auth)); err != nil {
		t.Fatal(err)
	}
}

func TestSearchCLI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"results": []map[string]any{
			{"name": "nginx", "description": "Official build of Nginx, a high-performance reverse proxy server.", "star_count": 20000, "is_official": true},
			{"name": "bitnami/nginx", "description": "Bitnami container image for NGINX", "star_count": 190},
		}})
	}))
	defer srv.Close()
	b := newBerthEnv(t)
	b.env = append(b.env, "BERTH_HUB_URL="+srv.URL)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"table", []string{"search", "nginx"}, 0,
			"NAME            DESCRIPTION                                     STARS     OFFICIAL\n" +
				"nginx           Official build of Nginx, a high-performance …   20000     [OK]\n" +
				"bitnami/nginx   Bitnami container image for NGINX               190       \n"},
		{"no-trunc", []string{"search", "--no-trunc", "--filter", "is-official=true", "nginx"}, 0,
			"NAME      DESCRIPTION                                                         STARS     OFFICIAL\n" +
				"nginx     Official build of Nginx, a high-performance reverse proxy server.   20000     [OK]\n"},
		{"format", []string{"search", "--format", "{{.Name}}: {{.StarCount}}", "-f", "stars=200", "nginx"}, 0, "nginx: 20000\n"},
		{"bad limit", []string{"search", "--limit", "0", "nginx"}, 125, ""},
		{"bad filter", []string{"search", "--filter", "color=red", "nginx"}, 125, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := b.run(t, "", tt.args...)
			if code != tt.code || (tt.code == 0 && out != tt.want) {
				t.Fatalf("exit %d, stdout:\n%q\nstderr: %s\nwant:\n%q", code, out, errOut, tt.want)
			}
		})
	}
	// HOST/TERM goes to the registry's catalog.
	reg := remotetest.Start(t, remotetest.Options{})
	seed(t, reg.Host+"/team/api:v1", 1)
	out, errOut, code := b.run(t, "", "search", "--format", "{{.Name}}", reg.Host+"/api")
	if code != 0 || out != reg.Host+"/team/api\n" {
		t.Fatalf("catalog search: exit %d %q %s", code, out, errOut)
	}
}

// `berth pull nginx` goes to the mirror named in berth's settings file and
// records Docker Hub's name.
func TestPullThroughMirrorCLI(t *testing.T) {
	mirror := remotetest.Start(t, remotetest.Options{})
	img := seed(t, mirror.Host+"/library/nginx:latest", 1)
	dig, _ := img.Digest()
	b := newBerthEnv(t)
	settings := `{"registry-mirrors": ["http://` + mirror.Host + `"], "max-concurrent-downloads": 2}`
	if err := os.WriteFile(filepath.Join(b.dir, "berth.json"), []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := b.run(t, "", "pull", "nginx")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Using default tag: latest\n", "latest: Pulling from library/nginx\n", "Digest: " + dig.String(), "Status: Downloaded newer image for nginx:latest\n", "docker.io/library/nginx:latest\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	// A broken settings file is reported with its path.
	os.WriteFile(filepath.Join(b.dir, "berth.json"), []byte(`{"registry-mirrors": "nope"}`), 0o600)
	_, errOut, code = b.run(t, "", "pull", "nginx")
	if code != 1 || !strings.Contains(errOut, "berth.json") {
		t.Fatalf("bad settings: exit %d\n%s", code, errOut)
	}
}

// A registry with a private CA works once its CA sits in Docker's certs.d
// layout under $DOCKER_CONFIG, and with --insecure-registry.
func TestTLSRegistryCLI(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{TLS: true})
	b := newBerthEnv(t)
	ref := reg.Host + "/secure/img:v1"
	_, errOut, code := b.run(t, "", "push", ref)
	if code != 1 {
		t.Fatalf("push of a missing image: exit %d %s", code, errOut)
	}
	out, errOut, code := b.run(t, "", "pull", "--insecure-registry", reg.Host, ref)
	if code != 1 || !strings.Contains(errOut, "manifest unknown: "+ref) {
		t.Fatalf("--insecure-registry against an empty registry: exit %d\n%s%s", code, out, errOut)
	}
	reg.TrustCA(t, filepath.Join(b.dir, "docker", "certs.d"))
	seedTLS(t, reg, ref)
	out, errOut, code = b.run(t, "", "pull", ref)
	if code != 0 || !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Fatalf("pull with certs.d trust: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = b.run(t, "", "push", ref)
	if code != 0 || !strings.Contains(out, "v1: digest: sha256:") {
		t.Fatalf("push with certs.d trust: exit %d\n%s%s", code, out, errOut)
	}
}

// seedTLS pushes a random image to a TLS registry with skopeo trusting the
// test CA.
func seedTLS(t *testing.T, reg *remotetest.Registry, ref string) {
	t.Helper()
	img, err := random.Image(8<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	reg.TrustCA(t, filepath.Join(dir, "certs"))
	remotetest.Skopeo(t, "copy", "-q", "--dest-cert-dir", filepath.Join(dir, "certs", reg.Host), "oci:"+filepath.Join(dir, "oci"), "docker://"+ref)
}

// -a pulls every tag; push -a pushes every local tag of the repository, and
// layers the registry holds in another repository are mounted, not sent.
func TestAllTagsCLI(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	src := reg.Host + "/all/src"
	one := seed(t, src+":v1", 1)
	two := seed(t, src+":v2", 1)
	b := newBerthEnv(t)
	out, errOut, code := b.run(t, "", "pull", "-a", src)
	if code != 0 {
		t.Fatalf("pull -a: exit %d %s", code, errOut)
	}
	for _, want := range []string{"v1: Pulling from all/src", "v2: Pulling from all/src", "Status: Downloaded newer image for " + src + "\n", src + "\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pull -a output lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := b.run(t, "", "pull", "-a", src+":v1"); code != 125 {
		t.Fatalf("pull -a with a tag: exit %d, want 125", code)
	}
	dst := reg.Host + "/all/dst"
	for _, tag := range []string{"v1", "v2"} {
		if _, errOut, code := b.run(t, "", "tag", src+":"+tag, dst+":"+tag); code != 0 {
			t.Fatalf("tag: %s", errOut)
		}
	}
	out, errOut, code = b.run(t, "", "push", "-a", dst)
	if code != 0 {
		t.Fatalf("push -a: exit %d %s", code, errOut)
	}
	for _, img := range []v1.Image{one, two} {
		d, _ := img.Digest()
		ls, _ := img.Layers()
		ld, _ := ls[0].Digest()
		if !strings.Contains(out, ": digest: "+d.String()+" size: ") || !strings.Contains(out, ld.Hex[:12]+": Mounted from all/src") {
			t.Fatalf("push -a output lacks the digest %s or the mount of %s:\n%s", d, ld, out)
		}
	}
}

// TestQueuedLayersWait: layers past the transfer limit print Docker's
// "Waiting" before they start, on pull and on push.
func TestQueuedLayersWait(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	ref := reg.Host + "/queue/img:v1"
	img := seed(t, ref, 3)
	ls, _ := img.Layers()
	b := newBerthEnv(t)
	for _, tc := range []struct {
		args    []string
		waiting int
	}{
		{[]string{"pull", "--max-concurrent-downloads", "1", ref}, 2},
		{[]string{"push", "--max-concurrent-uploads", "2", reg.Host + "/queue/copy:v1"}, 1},
	} {
		if tc.args[0] == "push" {
			if _, errOut, code := b.run(t, "", "tag", ref, tc.args[len(tc.args)-1]); code != 0 {
				t.Fatal(errOut)
			}
		}
		out, errOut, code := b.run(t, "", tc.args...)
		if code != 0 {
			t.Fatalf("%s: exit %d %s", tc.args[0], code, errOut)
		}
		got := 0
		for _, l := range ls {
			d, _ := l.Digest()
			if strings.Contains(out, d.Hex[:12]+": Waiting\n") {
				got++
			}
		}
		if got != tc.waiting {
			t.Errorf("%s: %d layers waiting, want %d:\n%s", tc.args[0], got, tc.waiting, out)
		}
	}
}

// TestPushPlatform: push --platform sends one platform of a multi-platform
// image as a single-platform image, as docker push --platform does.
func TestPushPlatform(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	amd, _ := random.Image(4<<10, 1)
	arm, _ := random.Image(4<<10, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	src, _ := name.ParseReference(reg.Host + "/multi/src:v1")
	if err := gremote.WriteIndex(src, idx); err != nil {
		t.Fatal(err)
	}
	b := newBerthEnv(t)
	// Pull the index for both platforms so the store has the whole of it.
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if _, errOut, code := b.run(t, "", "pull", "-q", "--platform", p, src.String()); code != 0 {
			t.Fatalf("pull %s: %s", p, errOut)
		}
	}
	dst := reg.Host + "/multi/arm:v1"
	if _, errOut, code := b.run(t, "", "tag", src.String(), dst); code != 0 {
		t.Fatal(errOut)
	}
	out, errOut, code := b.run(t, "", "push", "--platform", "linux/arm64", dst)
	if code != 0 {
		t.Fatalf("push --platform: exit %d %s", code, errOut)
	}
	want, _ := arm.Digest()
	if !strings.Contains(out, "v1: digest: "+want.String()+" ") {
		t.Fatalf("push --platform did not push the arm64 manifest %s:\n%s", want, out)
	}
	dr, _ := name.ParseReference(dst)
	desc, err := gremote.Head(dr)
	if err != nil || desc.Digest != want {
		t.Fatalf("registry has %v (%v) for %s, want %s", desc, err, dst, want)
	}
	_, errOut, code = b.run(t, "", "push", "--platform", "linux/s390x", dst)
	if code != 1 || !strings.Contains(errOut, "does not provide the specified platform (linux/s390x)") {
		t.Fatalf("push of a missing platform: exit %d %s", code, errOut)
	}
}

// TestLoginPrompt: on a terminal, login asks for the username with echo and
// the password without, as docker login does, and saves what was typed.
func TestLoginPrompt(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{User: "alice", Password: "s3cret"})
	b := newBerthEnv(t)
	master, tty := openPTY(t)
	var errOut bytes.Buffer
	cmd := exec.Command(b.bin, "login", reg.Host)
	cmd.Env = append(os.Environ(), b.env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	screen := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				screen <- string(buf[:n])
			}
			if err != nil {
				close(screen)
				return
			}
		}
	}()
	var seen strings.Builder
	waitFor := func(s string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !strings.Contains(seen.String(), s) {
			select {
			case chunk, ok := <-screen:
				if !ok {
					t.Fatalf("terminal closed before %q; screen so far:\n%s\nstderr: %s", s, seen.String(), errOut.String())
				}
				seen.WriteString(chunk)
			case <-deadline:
				t.Fatalf("no %q on the terminal; screen so far:\n%s", s, seen.String())
			}
		}
	}
	waitFor("Username: ")
	master.WriteString("alice\n")
	waitFor("Password: ")
	master.WriteString("s3cret\n")
	waitFor("Login Succeeded")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("login: %v\n%s", err, errOut.String())
	}
	if strings.Contains(seen.String(), "s3cret") {
		t.Errorf("the password was echoed:\n%s", seen.String())
	}
	if !strings.Contains(seen.String(), "alice") {
		t.Errorf("the username was not echoed:\n%s", seen.String())
	}
	raw, err := os.ReadFile(filepath.Join(b.dir, "docker", "config.json"))
	if err != nil || !strings.Contains(string(raw), reg.Host) {
		t.Fatalf("config.json after the prompt: %v\n%s", err, raw)
	}
}

// TestPullProgressTTY: on a terminal, pull draws Docker's per-layer
// progress (bars redrawn with escape codes) and still ends with the
// Digest and Status lines.
func TestPullProgressTTY(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	img := seedRandom(t, reg.Host+"/tty/img:v1", 1<<20, 1)
	// Trickled, so the bars are drawn more than once.
	p := newSlowProxy(reg.Host)
	p.slow.Store(true)
	ref := p.Start(t) + "/tty/img:v1"
	b := newBerthEnv(t)
	master, tty := openPTY(t)
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd := exec.Command(b.bin, "pull", ref)
	cmd.Env = append(os.Environ(), b.env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			screen.Write(buf[:n])
			if err != nil || strings.Contains(screen.String(), "Status: ") && strings.HasSuffix(strings.TrimRight(screen.String(), "\r\n"), ref) {
				return
			}
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pull: %v\n%s", err, errOut.String())
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	out := screen.String()
	d, _ := img.Digest()
	ls, _ := img.Layers()
	ld, _ := ls[0].Digest()
	for _, want := range []string{"\x1b[", ld.Hex[:12] + ": Downloading", "Digest: " + d.String(), "Status: Downloaded newer image for " + ref} {
		if !strings.Contains(out, want) {
			t.Fatalf("terminal output lacks %q:\n%q", want, out)
		}
	}
}
