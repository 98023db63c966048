package cli_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
)

// These tests drive the Docker Engine of the machine (daemon 20.10 here,
// required in CI) beside berth on the same inputs: archives each way,
// pushes and pulls through `berth registry serve`, and the listings.
// The Engine is shared with other test runs, so every image is named by
// testenv.DockerName, its content is unique to the run, and cleanup
// removes by those names.

type engine struct {
	t      *testing.T
	docker string
	env    []string
}

func newEngine(t *testing.T) *engine {
	return &engine{t: t, docker: testenv.DockerEngine(t), env: []string{"DOCKER_CONFIG=" + t.TempDir()}}
}

func (e *engine) try(stdin []byte, args ...string) testenv.Result {
	e.t.Helper()
	c := testenv.Cmd{Args: args, Env: e.env}
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	return testenv.Run(e.t, e.docker, c)
}

func (e *engine) ok(stdin []byte, args ...string) string {
	e.t.Helper()
	r := e.try(stdin, args...)
	if r.Code != 0 {
		e.t.Fatalf("docker %s: exit %d: %s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Stdout
}

// removeID removes an untagged image of this run's own content.
func (e *engine) removeID(id string) {
	e.t.Cleanup(func() { e.try(nil, "rmi", id) })
}

// idsFormat lists name and full ID per image, sorted: what both tools must
// agree on after a transfer.
const idsFormat = "{{.Repository}}:{{.Tag}} {{.ID}}"

func sortedLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

func (e *engine) ids(name string) string {
	e.t.Helper()
	return sortedLines(e.ok(nil, "images", "--no-trunc", "--filter", "reference="+name, "--format", idsFormat))
}

func berthIDs(t *testing.T, root, name string) string {
	t.Helper()
	return sortedLines(berthOK(t, root, "images", "--no-trunc", "--filter", "reference="+name, "--format", idsFormat))
}

func runID(t *testing.T) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// interopImages makes two images in a berth store under name: "base", an
// import of busybox with a file unique to the run, and "app", built FROM
// it with the instructions that shape a config and history (no RUN, so
// that no sandbox is needed).
func interopImages(t *testing.T, root, name string) {
	t.Helper()
	rootfs := testenv.BusyboxRootfs(t, map[string]string{"etc/run-id": runID(t) + "\n"})
	berthOK(t, root, "import", "-c", "CMD [\"sh\"]", writeFile(t, "rootfs.tar", rootfs), name+":base")
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "app.txt"), []byte("app "+runID(t)+"\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf(`FROM %s:base
LABEL org.opencontainers.image.title="interop <test>" maintainer=berth
ENV APP_HOME=/srv/app PATH=/srv/app/bin:/bin
WORKDIR /srv/app
COPY app.txt ./
EXPOSE 8080/tcp 53/udp
USER 1000:1000
HEALTHCHECK --interval=5s CMD ["sh", "-c", "true"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["sh", "-c"]
CMD ["cat app.txt"]
`, name)), 0o644))
	berthOK(t, root, "build", "-q", "-t", name+":app", dir)
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	must(t, os.WriteFile(p, b, 0o644))
	return p
}

// TestDockerEngineArchives: berth save loads into Docker, and docker save
// (one image, several, a tag, an ID, to stdout and to a file, gzip'd)
// loads into berth, with the same image IDs and tags both ways.
func TestDockerEngineArchives(t *testing.T) {
	e := newEngine(t)
	src := t.TempDir()
	name := testenv.DockerName(t, e.docker, "archive")
	interopImages(t, src, name)
	want := berthIDs(t, src, name)
	if strings.Count(want, "\n") != 1 {
		t.Fatalf("berth made %q", want)
	}

	t.Run("berth-save-docker-load", func(t *testing.T) {
		for _, how := range []string{"pipe", "file"} {
			testenv.RemoveDockerImages(e.docker, "reference="+name)
			if how == "pipe" {
				e.ok([]byte(berthOK(t, src, "save", name+":base", name+":app")), "load")
			} else {
				out := filepath.Join(t.TempDir(), "b.tar")
				berthOK(t, src, "save", "-o", out, name+":base", name+":app")
				e.ok(nil, "load", "-i", out)
			}
			if got := e.ids(name); got != want {
				t.Errorf("%s: docker has\n%s\nberth saved\n%s", how, got, want)
			}
		}
	})

	baseID := strings.Fields(strings.Split(want, "\n")[1])[1]
	if !strings.HasPrefix(strings.Split(want, "\n")[1], name+":base ") {
		t.Fatalf("unexpected order %q", want)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		save []string // docker save arguments
		gzip bool
		file bool
		want string // berth's images afterwards
	}{
		{"one-tag", []string{name + ":app"}, false, false, lineOf(want, name+":app")},
		{"several", []string{name + ":base", name + ":app"}, false, false, want},
		{"repository", []string{name}, false, true, want},
		{"to-file", []string{name + ":base"}, false, true, lineOf(want, name+":base")},
		{"gzip", []string{name + ":base", name + ":app"}, true, false, want},
		{"gzip-file", []string{name + ":app"}, true, true, lineOf(want, name+":app")},
	} {
		t.Run("docker-save-berth-load/"+tc.name, func(t *testing.T) {
			data := []byte(e.ok(nil, append([]string{"save"}, tc.save...)...))
			if tc.gzip {
				data = testenv.Gzip(t, data)
			}
			root := t.TempDir()
			var said string
			if tc.file {
				said = berthOK(t, root, "load", "-i", writeFile(t, "d.tar", data))
			} else {
				r := berth(t, root, bytes.NewReader(data), "load")
				if r.code != 0 {
					t.Fatalf("berth load: exit %d: %s", r.code, r.stderr)
				}
				said = r.stdout
			}
			if got := berthIDs(t, root, name); got != tc.want {
				t.Errorf("berth loaded\n%s\nwant\n%s", got, tc.want)
			}
			// berth says what docker load says of the same archive.
			if d := e.ok(data, "load"); sortedLines(d) != sortedLines(said) {
				t.Errorf("docker load said\n%s\nberth load\n%s", d, said)
			}
		})
	}

	t.Run("docker-save-by-id", func(t *testing.T) {
		out := filepath.Join(dir, "id.tar")
		e.ok(nil, "save", "-o", out, baseID)
		root := t.TempDir()
		r := berth(t, root, nil, "load", "-i", out)
		if r.code != 0 {
			t.Fatalf("berth load: exit %d: %s", r.code, r.stderr)
		}
		got := berthOK(t, root, "images", "--no-trunc", "--format", idsFormat)
		if strings.TrimSpace(got) != "<none>:<none> "+baseID {
			t.Errorf("berth images after loading an archive saved by ID:\n%s", got)
		}
		if !strings.Contains(r.stdout, "Loaded image ID: "+baseID) {
			t.Errorf("berth load said %q, want Docker's \"Loaded image ID: %s\"", r.stdout, baseID)
		}
	})
}

func lineOf(lines, prefix string) string {
	for _, l := range strings.Split(lines, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return l
		}
	}
	return ""
}

// TestDockerEngineOldArchives: archives of formats the Engine here no
// longer writes (Docker's v1 format before 1.10, and Docker 25's saved by
// ID) load into Docker and into berth as the same images.
func TestDockerEngineOldArchives(t *testing.T) {
	e := newEngine(t)
	name := testenv.DockerName(t, e.docker, "v1")
	run := runID(t)
	v1Archive, _ := testenv.DockerV1Archive(t, name, "v1", "base-"+run, "mid-"+run, "top-"+run)
	img := testenv.Image(t, "linux/amd64", testenv.Layer(t, "d25-"+run))
	cfg, err := img.ConfigName()
	must(t, err)
	for _, tc := range []struct {
		name string
		data []byte
		id   string // the untagged image's ID, when the archive names none
	}{
		{"docker-v1", v1Archive, ""},
		{"docker-25-by-id", testenv.Docker25Archive(t, testenv.Docker25Image{Image: img}), cfg.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ok(tc.data, "load")
			root := t.TempDir()
			r := berth(t, root, bytes.NewReader(tc.data), "load")
			if r.code != 0 {
				t.Fatalf("berth load: exit %d: %s", r.code, r.stderr)
			}
			if tc.id != "" {
				e.removeID(tc.id)
				if got := e.ok(nil, "image", "inspect", "-f", "{{.Id}}", tc.id); strings.TrimSpace(got) != tc.id {
					t.Fatalf("docker has %q", got)
				}
				if got := strings.TrimSpace(berthOK(t, root, "images", "--no-trunc", "--format", idsFormat)); got != "<none>:<none> "+tc.id {
					t.Errorf("berth loaded %q, docker %s untagged", got, tc.id)
				}
				return
			}
			if got, want := berthIDs(t, root, name), e.ids(name); got != want || want == "" {
				t.Errorf("berth loaded\n%s\ndocker\n%s", got, want)
			}
		})
	}
}

// TestDockerEngineRegistry: docker push to and docker pull from `berth
// registry serve` on 127.0.0.1 (insecure to the daemon by default), with
// berth on the other end, and the same again behind htpasswd auth with
// docker login.
func TestDockerEngineRegistry(t *testing.T) {
	e := newEngine(t)
	src := t.TempDir()
	name := testenv.DockerName(t, e.docker, "registry")
	interopImages(t, src, name)
	e.ok([]byte(berthOK(t, src, "save", name+":app")), "load")
	appID := strings.Fields(lineOf(berthIDs(t, src, name), name+":app"))[1]

	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	berthOK(t, src, "registry", "htpasswd", "-Bc", "-b", htpasswd, "alice", "s3cret")
	for _, tc := range []struct {
		name  string
		flags []string
	}{{"open", nil}, {"htpasswd", []string{"--htpasswd", htpasswd}}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testenv.BerthRegistry(t, testenv.Berth(t), tc.flags...)
			repo := addr + "/" + name
			t.Cleanup(func() { testenv.RemoveDockerImages(e.docker, "reference="+repo) })
			root := t.TempDir()
			if tc.flags != nil {
				if r := e.try(nil, "push", repo+":nope"); r.Code == 0 {
					t.Fatal("docker push without login succeeded")
				}
				e.ok([]byte("s3cret\n"), "login", "-u", "alice", "--password-stdin", addr)
				r := berth(t, root, strings.NewReader("s3cret\n"), "login", "-u", "alice", "--password-stdin", addr)
				if r.code != 0 {
					t.Fatalf("berth login: %s", r.stderr)
				}
			}
			// docker push → berth pull
			e.ok(nil, "tag", name+":app", repo+":from-docker")
			e.ok(nil, "push", repo+":from-docker")
			berthOK(t, root, "pull", "-q", repo+":from-docker")
			if got := berthOK(t, root, "images", "--no-trunc", "-q", repo+":from-docker"); strings.TrimSpace(got) != appID {
				t.Errorf("berth pulled %q, docker pushed %s", got, appID)
			}
			// berth push → docker pull
			berthOK(t, root, "tag", repo+":from-docker", repo+":from-berth")
			berthOK(t, root, "push", "-q", repo+":from-berth")
			e.ok(nil, "pull", "-q", repo+":from-berth")
			if got := strings.TrimSpace(e.ok(nil, "image", "inspect", "-f", "{{.Id}}", repo+":from-berth")); got != appID {
				t.Errorf("docker pulled %s, berth pushed %s", got, appID)
			}
			// Both record the same repository digest for what they pulled.
			f := `{{range .RepoDigests}}{{println .}}{{end}}`
			if d, b := e.ok(nil, "image", "inspect", "-f", f, repo+":from-berth"), berthOK(t, root, "image", "inspect", "-f", f, repo+":from-docker"); d != b {
				t.Errorf("RepoDigests: docker %q, berth %q", d, b)
			}
		})
	}
}

// TestDockerEngineListings: for the same images (loaded into Docker from
// berth's save), images, history and inspect -f print what docker prints,
// line by line. A relative CREATED column may tick between the two runs,
// so a comparison that differs is taken again, up to three times.
func TestDockerEngineListings(t *testing.T) {
	e := newEngine(t)
	root := t.TempDir()
	name := testenv.DockerName(t, e.docker, "listing")
	interopImages(t, root, name)
	e.ok([]byte(berthOK(t, root, "save", name+":base", name+":app")), "load")
	app := name + ":app"
	cases := [][]string{
		{"images", name},
		{"images", "--no-trunc", name},
		{"images", "--digests", name},
		{"images", "-q", name},
		{"images", "--format", "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}\t{{.CreatedAt}}", name},
		{"images", "--format", "table {{.Repository}}:{{.Tag}}\t{{.Size}}", name},
		{"history", app},
		{"history", "--no-trunc", app},
		{"history", "-H=false", app},
		{"history", "-q", app},
		{"history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}|{{.CreatedAt}}", app},
		{"history", "--format", "{{json .}}", app},
		{"images", "--format", "{{json .}}", name},
	}
	for _, f := range []string{
		"{{.Id}}", "{{.Created}}", "{{.Os}}/{{.Architecture}}", "{{.Size}}", "{{.Author}}", "{{.Comment}}",
		"{{json .RepoTags}}", "{{index .RepoTags 0}}", "{{json .RepoDigests}}", "{{.Parent}}", "{{.DockerVersion}}",
		"{{json .Config.Env}}", "{{json .Config.Cmd}}", "{{json .Config.Entrypoint}}", "{{.Config.WorkingDir}}",
		"{{.Config.User}}", "{{json .Config.ExposedPorts}}", "{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}",
		"{{json .Config.Labels}}", `{{index .Config.Labels "maintainer"}}`, "{{json .Config.Healthcheck}}",
		"{{.Config.StopSignal}}", "{{json .Config.Volumes}}", "{{json .Config.OnBuild}}", "{{.Config.ArgsEscaped}}",
		"{{json .RootFS}}", "{{len .RootFS.Layers}}", "{{range .RootFS.Layers}}{{println .}}{{end}}",
		"{{.GraphDriver.Name | printf \"%.0s\"}}ok",
	} {
		cases = append(cases, []string{"inspect", "-f", f, app}, []string{"image", "inspect", "--format", f, name + ":base"})
	}
	// inspect's whole document differs by API version (20.10 still has
	// VirtualSize and ContainerConfig); its strings are written alike.
	const title = `"org.opencontainers.image.title": "interop <test>"`
	if d, b := e.ok(nil, "inspect", app), berthOK(t, root, "inspect", app); !strings.Contains(d, title) || !strings.Contains(b, title) {
		t.Errorf("inspect: want %s in both\ndocker:\n%s\nberth:\n%s", title, d, b)
	}
	for _, args := range cases {
		var d, b string
		for try := 0; try < 3; try++ {
			dr := e.try(nil, args...)
			br := berth(t, root, nil, args...)
			d, b = dr.Stdout+dr.Stderr, br.stdout+br.stderr
			if args[0] == "images" {
				// The daemon orders images by creation time only (an
				// unstable sort), so two made in the same second come
				// in either order: the rows are compared as a set.
				d, b = unorderedRows(d, args), unorderedRows(b, args)
			}
			if dr.Code != br.code {
				t.Errorf("%s: docker exit %d, berth %d", strings.Join(args, " "), dr.Code, br.code)
			}
			if d == b {
				break
			}
			time.Sleep(time.Second)
		}
		if d != b {
			t.Errorf("%s:\ndocker:\n%s\nberth:\n%s", strings.Join(args, " "), d, b)
		}
	}
}

// unorderedRows sorts the rows of images' output: all lines for -q and
// plain --format templates, all but the header for a table.
func unorderedRows(out string, args []string) string {
	lines := strings.SplitAfter(out, "\n")
	first := 0
	if strings.HasPrefix(out, "REPOSITORY") || strings.HasPrefix(out, "IMAGE ID") || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "table") }) {
		first = 1
	}
	if len(lines) > first {
		sort.Strings(lines[first:])
	}
	return strings.Join(lines, "")
}
