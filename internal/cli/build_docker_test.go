package cli_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/testenv"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The Docker Engine on this machine is the reference for berth build: the
// same Dockerfiles built by both must give the same root filesystem, file
// by file, and the same config. The daemon is 20.10 and the CLI has no
// buildx, so `docker build` is the legacy builder (DOCKER_BUILDKIT=0 says
// so explicitly). Where the legacy builder and BuildKit disagree, berth
// follows BuildKit, the default builder since Docker 23; those
// differences are listed in builderDiffs and checked to be exactly that.

// fsEntry is what the comparison looks at for one path: mtimes are left
// out (each build has its own), everything else counts.
type fsEntry struct {
	Type   byte
	Mode   int64
	UID    int
	GID    int
	Size   int64
	Digest string // content, regular files
	Link   string // symlink target
	Group  string // the first name of its hard-link group, or ""
}

// rootfsOf indexes a flattened root filesystem tar; hard links are
// grouped (by the name the group has first in the tar), so two
// exporters that order names differently still compare equal.
func rootfsOf(t *testing.T, data []byte) map[string]fsEntry {
	t.Helper()
	out := map[string]fsEntry{}
	tr := tar.NewReader(bytes.NewReader(data))
	links := map[string][]string{} // target → names linking to it
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Trim(path.Clean("/"+h.Name), "/")
		if name == "" {
			continue
		}
		e := fsEntry{Type: h.Typeflag, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid}
		switch h.Typeflag {
		case tar.TypeReg:
			sum := sha256.New()
			n, err := io.Copy(sum, tr)
			if err != nil {
				t.Fatal(err)
			}
			e.Size, e.Digest = n, hex.EncodeToString(sum.Sum(nil))
		case tar.TypeSymlink:
			e.Link = h.Linkname
		case tar.TypeLink:
			target := strings.Trim(path.Clean("/"+h.Linkname), "/")
			links[target] = append(links[target], name)
			continue
		}
		out[name] = e
	}
	for target, names := range links {
		all := append([]string{target}, names...)
		sort.Strings(all)
		for _, n := range all {
			e := out[target]
			e.Group = all[0]
			out[n] = e
		}
	}
	return out
}

// configFields are the parts of the image config users see and the
// comparison checks.
var configFields = []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "Healthcheck", "OnBuild", "StopSignal", "Shell"}

// configOf keeps configFields of an inspect .Config, empty values dropped
// (Docker writes null where berth leaves a field out, and the other way).
func configOf(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("config: %v\n%s", err, raw)
	}
	out := map[string]any{}
	for _, f := range configFields {
		v := c[f]
		switch x := v.(type) {
		case nil:
			continue
		case string:
			if x == "" {
				continue
			}
		case []any:
			if len(x) == 0 {
				continue
			}
		case map[string]any:
			if len(x) == 0 {
				continue
			}
		}
		out[f] = v
	}
	return out
}

type dockerBuildCase struct {
	name      string
	files     map[string]string                    // context; "Dockerfile" uses BASE for the base image
	args      []string                             // build flags for both
	links     map[string]string                    // context symlinks: path → target
	hardlinks map[string]string                    // context hard links: path → existing path
	blobs     func(t *testing.T) map[string][]byte // binary context files (archives)
	// builderDiffs: where the legacy builder differs from BuildKit and
	// berth follows BuildKit; config field → berth's value as JSON.
	builderDiffs map[string]string
}

func TestBuildMatchesDocker(t *testing.T) {
	docker := testenv.DockerEngine(t)
	e := newBuildEnv(t)
	name := testenv.DockerName(t, docker, "build")
	// The base both build on: busybox-static with a PATH, as the real
	// busybox image has, and the applets the cases use.
	base := name + ":base"
	baseDir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" +
		"RUN for a in chown chmod ln wget tar mv cp grep sed; do ln -s busybox /bin/$a; done\n"})
	e.mustBuild(baseDir, "-t", base)
	saved, se, code := e.run("", nil, "save", base)
	if code != 0 {
		t.Fatalf("berth save: %s", se)
	}
	load := exec.Command(docker, "load")
	load.Stdin = strings.NewReader(saved)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}

	for i, tc := range dockerBuildCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := ctxDir(t, map[string]string{})
			for p, c := range tc.files {
				write(t, dir+"/"+p, baseWord.ReplaceAllLiteralString(c, base), 0o644)
			}
			for p, target := range tc.links {
				if err := os.Symlink(target, dir+"/"+p); err != nil {
					t.Fatal(err)
				}
			}
			for p, target := range tc.hardlinks {
				if err := os.Link(dir+"/"+target, dir+"/"+p); err != nil {
					t.Fatal(err)
				}
			}
			if tc.blobs != nil {
				for p, b := range tc.blobs(t) {
					write(t, dir+"/"+p, string(b), 0o644)
				}
			}
			tag := fmt.Sprintf("%s:case%d", name, i)
			// --force-rm: a failed step leaves no container in the shared Engine.
			cmd := exec.Command(docker, append(append([]string{"build", "-q", "--force-rm", "-t", tag}, tc.args...), ".")...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("docker build: %v\n%s", err, out)
			}
			e.mustBuild(dir, append([]string{"-q", "-t", tag}, tc.args...)...)

			// Docker's root filesystem as its image has it (docker save,
			// flattened), not a container's, which has the Engine's mount
			// points and volume directories in it; berth's as --output
			// type=tar writes it.
			want := dockerRootfs(t, docker, tag)
			so, se, code := e.run(dir, nil, append(append([]string{"build", "-q", "--output", "type=tar,dest=-"}, tc.args...), ".")...)
			if code != 0 {
				t.Fatalf("berth build --output: %s", se)
			}
			compareRootfs(t, rootfsOf(t, want), rootfsOf(t, []byte(so)))

			dcfg, err := exec.Command(docker, "inspect", "-f", "{{json .Config}}", tag).Output()
			if err != nil {
				t.Fatalf("docker inspect: %v", err)
			}
			bcfg, se, code := e.run("", nil, "inspect", "-f", "{{json .Config}}", tag)
			if code != 0 {
				t.Fatalf("berth inspect: %s", se)
			}
			dc, bc := configOf(t, dcfg), configOf(t, []byte(bcfg))
			for f, v := range tc.builderDiffs {
				var bv any
				if err := json.Unmarshal([]byte(v), &bv); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(bc[f], bv) {
					t.Errorf("%s: berth has %v, want BuildKit's %v (the legacy builder's: %v)", f, bc[f], bv, dc[f])
				}
				delete(dc, f)
				delete(bc, f)
			}
			for _, f := range configFields {
				if !reflect.DeepEqual(dc[f], bc[f]) {
					t.Errorf("config %s: docker %v, berth %v", f, dc[f], bc[f])
				}
			}
		})
	}
}

var baseWord = regexp.MustCompile(`\bBASE\b`)

// dockerRootfs is the flattened root filesystem of an image in the Engine.
func dockerRootfs(t *testing.T, docker, tag string) []byte {
	t.Helper()
	saved, err := exec.Command(docker, "save", tag).Output()
	if err != nil {
		t.Fatalf("docker save: %v", err)
	}
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(saved)), nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := archive.Flatten(context.Background(), img)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func compareRootfs(t *testing.T, docker, berth map[string]fsEntry) {
	t.Helper()
	var names []string
	for n := range docker {
		names = append(names, n)
	}
	for n := range berth {
		if _, ok := docker[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	bad := 0
	for _, n := range names {
		d, dok := docker[n]
		b, bok := berth[n]
		switch {
		case !bok:
			t.Errorf("/%s: only in docker's: %+v", n, d)
		case !dok:
			t.Errorf("/%s: only in berth's: %+v", n, b)
		case d != b:
			t.Errorf("/%s:\n docker %+v\n berth  %+v", n, d, b)
		default:
			continue
		}
		if bad++; bad > 20 {
			t.Fatal("more differences left out")
		}
	}
}
