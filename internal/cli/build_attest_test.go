package cli_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/scan/scantest"
)

const dpkgStatus = `Package: hello
Status: install ok installed
Priority: optional
Section: devel
Installed-Size: 100
Maintainer: Example <x@example.org>
Architecture: amd64
Version: 2.10-3
Description: an example package

`

// TestBuildAttestations builds with --sbom, --provenance and --annotation,
// pushes the result to berth's registry and to the CNCF registry, and reads
// it back over the distribution API as BuildKit's consumers do: an index
// whose attestation manifest (unknown/unknown, vnd.docker.reference.*)
// carries in-toto statements about the image manifest.
func TestBuildAttestations(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY os-release /etc/os-release\nCOPY status /var/lib/dpkg/status\nRUN echo hi > /x\n",
		"os-release": string(scantest.DebianOSRelease),
		"status":     dpkgStatus,
	})
	e.mustBuild(dir, "--sbom=true", "--provenance", "mode=max", "--build-arg", "V=7",
		"--annotation", "org.opencontainers.image.title=att", "--annotation", "index:org.example.index=1", "-t", "att:1")

	for _, reg := range []struct{ name, addr string }{
		{"berth", serveRegistry(t, e.bin)},
		{"cncf", startRegistry(t)},
	} {
		t.Run(reg.name, func(t *testing.T) {
			target := reg.addr + "/att:1"
			if _, se, code := e.run("", nil, "tag", "att:1", target); code != 0 {
				t.Fatal(se)
			}
			if _, se, code := e.run("", nil, "push", target); code != 0 {
				t.Fatalf("push: %s", se)
			}
			base := "http://" + reg.addr + "/v2/att"
			var idx struct {
				MediaType   string
				Annotations map[string]string
				Manifests   []struct {
					Digest      string
					Platform    struct{ OS, Architecture string }
					Annotations map[string]string
				}
			}
			getJSON(t, base+"/manifests/1", "application/vnd.oci.image.index.v1+json", &idx)
			if idx.MediaType != "application/vnd.oci.image.index.v1+json" || len(idx.Manifests) != 2 || idx.Annotations["org.example.index"] != "1" {
				t.Fatalf("index: %+v", idx)
			}
			img, att := idx.Manifests[0], idx.Manifests[1]
			if att.Platform.OS != "unknown" || att.Annotations["vnd.docker.reference.type"] != "attestation-manifest" || att.Annotations["vnd.docker.reference.digest"] != img.Digest {
				t.Fatalf("attestation descriptor: %+v (image %s)", att, img.Digest)
			}
			var m struct {
				Annotations map[string]string
				Layers      []struct {
					MediaType, Digest string
					Annotations       map[string]string
				}
			}
			getJSON(t, base+"/manifests/"+img.Digest, "application/vnd.oci.image.manifest.v1+json", &m)
			if m.Annotations["org.opencontainers.image.title"] != "att" {
				t.Errorf("image manifest annotations %v, want the --annotation", m.Annotations)
			}
			getJSON(t, base+"/manifests/"+att.Digest, "application/vnd.oci.image.manifest.v1+json", &m)
			preds := map[string]string{}
			for _, l := range m.Layers {
				if l.MediaType != "application/vnd.in-toto+json" {
					t.Errorf("attestation layer media type %s", l.MediaType)
				}
				var st struct {
					Type, PredicateType string
					Subject             []struct {
						Name   string
						Digest map[string]string
					}
					Predicate json.RawMessage
				}
				getJSON(t, base+"/blobs/"+l.Digest, "", &st)
				if st.PredicateType != l.Annotations["in-toto.io/predicate-type"] || len(st.Subject) != 1 || "sha256:"+st.Subject[0].Digest["sha256"] != img.Digest {
					t.Errorf("statement %+v does not name the image %s", st, img.Digest)
				}
				preds[st.PredicateType] = string(st.Predicate)
			}
			sbom := preds["https://spdx.dev/Document"]
			if !strings.Contains(sbom, `"spdxVersion":"SPDX-2.3"`) || !strings.Contains(sbom, `"name":"hello"`) || !strings.Contains(sbom, `"versionInfo":"2.10-3"`) {
				t.Errorf("SBOM lacks the dpkg package hello 2.10-3:\n%s", sbom)
			}
			prov := preds["https://slsa.dev/provenance/v0.2"]
			dockerfile := base64.StdEncoding.EncodeToString([]byte("FROM busybox\n"))[:12]
			for _, want := range []string{`"buildType":"https://mobyproject.org/buildkit@v1"`, `"build-arg:V":"7"`, `"uri":"pkg:docker/busybox@latest?platform=linux%2F`, dockerfile} {
				if !strings.Contains(prov, want) {
					t.Errorf("provenance lacks %s:\n%s", want, prov)
				}
			}
			// imagetools reads it from the registry (a store that does not
			// hold it), as docker buildx imagetools inspect does.
			out, se, code := e.run("", nil, "--root", t.TempDir(), "buildx", "imagetools", "inspect", target)
			if code != 0 || !strings.Contains(out, "Platform:    unknown/unknown") || !strings.Contains(out, "https://spdx.dev/Document") || !strings.Contains(out, "vnd.docker.reference.type:   attestation-manifest") {
				t.Errorf("imagetools inspect: exit %d\n%s%s", code, out, se)
			}
		})
	}
}

func getJSON(t *testing.T, url, accept string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, b)
	}
}

// TestBuildCompatFlags runs the flags Docker's and buildx's command lines
// carry: each is accepted, and a bad value of one that takes a value fails
// as a usage error before any work.
func TestBuildCompatFlags(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo hi\n"})
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{args: []string{"--load", "--builder", "default", "--allow", "network.host", "--call", "build"}},
		{args: []string{"--rm", "--force-rm", "--compress", "--isolation", "default", "--cgroup-parent", "/x"}},
		{args: []string{"--rm=false", "--shm-size", "128m", "--ulimit", "nofile=1024:2048", "-m", "1g", "--memory-swap", "-1"}},
		{args: []string{"--cpu-shares", "512", "--cpu-period", "100000", "--cpu-quota", "50000", "--cpuset-cpus", "0", "--disable-content-trust"}},
		{args: []string{"--provenance=false", "--sbom=false", "--attest", "type=sbom,disabled=true"}},
		{args: []string{"--security-opt", "seccomp=unconfined"}},
		{args: []string{"--shm-size", "lots"}, code: 125, err: "--shm-size"},
		{args: []string{"--ulimit", "nofile"}, code: 125, err: "--ulimit"},
		{args: []string{"--memory", "x"}, code: 125, err: "--memory"},
		{args: []string{"--isolation", "hyperv"}, code: 125, err: "--isolation"},
		{args: []string{"--attest", "type=nope"}, code: 125, err: "--attest"},
		{args: []string{"--provenance", "mode=huge"}, code: 125, err: "mode must be"},
		{args: []string{"--annotation", "noequals"}, code: 125, err: "--annotation"},
		{args: []string{"--annotation", "bogus:k=v"}, code: 125, err: "unknown type"},
		{args: []string{"--allow", "everything"}, code: 125, err: "--allow"},
		{args: []string{"--call", "outline"}, code: 125, err: "--call"},
		{args: []string{"--call", "check,format=yaml"}, code: 125, err: "format must be"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			so, se, code := e.run(dir, nil, append(append([]string{"build", "-q"}, tc.args...), ".")...)
			if code != tc.code || !strings.Contains(se, tc.err) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.err, so, se)
			}
			if tc.code == 0 && !strings.HasPrefix(so, "sha256:") {
				t.Errorf("stdout %q, want the image ID", so)
			}
		})
	}
}

// TestBuildProgressRawJSON checks --progress=rawjson prints one BuildKit
// SolveStatus object per line: vertexes that start and complete, and the
// RUN step's output as a log of its vertex.
func TestBuildProgressRawJSON(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo rawjson-output\n"})
	_, se, code := e.run(dir, nil, "build", "--progress=rawjson", "--no-cache", ".")
	if code != 0 {
		t.Fatalf("build: %s", se)
	}
	type vertex struct {
		Digest, Name       string
		Started, Completed *string
	}
	var sawRunStart, sawRunDone, sawLog bool
	var runDigest string
	for _, line := range strings.Split(strings.TrimSpace(se), "\n") {
		var st struct {
			Vertexes []vertex
			Logs     []struct {
				Vertex string
				Stream int
				Data   []byte
			}
		}
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		for _, v := range st.Vertexes {
			if strings.Contains(v.Name, "RUN echo rawjson-output") {
				runDigest = v.Digest
				sawRunStart = sawRunStart || v.Started != nil
				sawRunDone = sawRunDone || v.Completed != nil
			}
		}
		for _, l := range st.Logs {
			if l.Vertex == runDigest && l.Stream == 1 && strings.Contains(string(l.Data), "rawjson-output") {
				sawLog = true
			}
		}
	}
	if !sawRunStart || !sawRunDone || !sawLog || !strings.HasPrefix(runDigest, "sha256:") {
		t.Errorf("rawjson: start %v, done %v, log %v, digest %q\n%s", sawRunStart, sawRunDone, sawLog, runDigest, se)
	}
}

// TestBuildCallCheck: --call=check runs the build checks instead of the
// build, with buildx's format option, and builds nothing.
func TestBuildCallCheck(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "from busybox AS Base\nRUN echo hi\n"})
	so, se, code := e.run(dir, nil, "build", "--call=check,format=json", "-t", "nothing:1", ".")
	if !json.Valid([]byte(so)) || !strings.Contains(so, "StageNameCasing") && !strings.Contains(so, "ConsistentInstructionCasing") {
		t.Errorf("--call=check,format=json: exit %d\nstdout %s\nstderr %s", code, so, se)
	}
	if _, _, code := e.run("", nil, "inspect", "nothing:1"); code == 0 {
		t.Errorf("--call=check built an image")
	}
}

// TestBuildShmSize: --shm-size sizes RUN's /dev/shm, as docker build's.
func TestBuildShmSize(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN cat /proc/mounts\n"})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "size=65536k"},
		{[]string{"--shm-size", "128m"}, "size=131072k"},
	} {
		_, se, code := e.run(dir, nil, append(append([]string{"build", "--no-cache", "--progress=plain"}, tc.args...), ".")...)
		if code != 0 {
			t.Fatalf("build %v: %s", tc.args, se)
		}
		var shm string
		for _, l := range strings.Split(se, "\n") {
			if strings.Contains(l, " /dev/shm ") {
				shm = l
			}
		}
		if !strings.Contains(shm, tc.want) {
			t.Errorf("build %v: /dev/shm is %q, want %s\n%s", tc.args, shm, tc.want, se)
		}
	}
}

// TestBuildUlimit: --ulimit sets RUN's resource limits, as docker build's.
func TestBuildUlimit(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN cat /proc/self/limits\n"})
	_, se, code := e.run(dir, nil, "build", "--no-cache", "--progress=plain", "--ulimit", "nofile=1000:2000", ".")
	if code != 0 {
		t.Fatalf("build: %s", se)
	}
	if !strings.Contains(se, "Max open files            1000                 2000") {
		t.Errorf("RUN's limits lack nofile 1000:2000:\n%s", se)
	}
}

// TestBuildSquash: --squash keeps the base's layers and merges the added
// ones into one, with their deletions: a build FROM the squashed image
// sees exactly the last step's filesystem.
func TestBuildSquash(t *testing.T) {
	e := newBuildEnv(t)
	base := len(e.inspect("busybox")["RootFS"].(map[string]any)["Layers"].([]any))
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo a > /a && mkdir -p /d && echo x > /d/x\nRUN rm /a /bin/cat && rm -r /d\nRUN mkdir /d && echo y > /d/y && echo b > /b\n"})
	e.mustBuild(dir, "--squash", "-t", "sq:1")
	img := e.inspect("sq:1")
	if got := len(img["RootFS"].(map[string]any)["Layers"].([]any)); got != base+1 {
		t.Fatalf("squashed image has %d layers, want the base's %d + 1", got, base)
	}
	check := ctxDir(t, map[string]string{"Dockerfile": "FROM sq:1\nRUN test ! -e /a && test ! -e /bin/cat && test ! -e /d/x && test -e /d/y && test -e /b && test -e /bin/sh\n"})
	e.mustBuild(check, "--no-cache")
	so, _, _ := e.run("", nil, "history", "--format", "{{.Comment}}", "sq:1")
	if !strings.Contains(so, "merge 3 layers to sha256:") {
		t.Errorf("history lacks the merge entry:\n%s", so)
	}
}
