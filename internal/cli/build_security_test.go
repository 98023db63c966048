package cli_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBuildSeccomp: every RUN is filtered with Docker's default seccomp
// profile, as Docker's builders filter theirs; --security-opt
// seccomp=unconfined|PROFILE.json changes it, and a bad option or profile
// is a one-line error before the build starts.
func TestBuildSeccomp(t *testing.T) {
	e := newBuildEnv(t)
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN grep ^Seccomp: /proc/self/status > /mode; (unshare -U true || echo refused) > /unshare 2>&1\n"})
	files, stderr, code := buildFiles(t, e.bin, e.root, dir)
	if code != 0 {
		t.Fatalf("build: %s", stderr)
	}
	if !strings.Contains(files["mode"], "Seccomp:\t2") {
		t.Errorf("RUN's seccomp mode: %q, want 2 (filtered)", files["mode"])
	}
	if u := files["unshare"]; !strings.Contains(u, "Operation not permitted") || !strings.Contains(u, "refused") {
		t.Errorf("a nested user namespace was not refused with EPERM: %q", u)
	}
	files, stderr, code = buildFiles(t, e.bin, e.root, "--no-cache", "--security-opt", "seccomp=unconfined", dir)
	if code != 0 || !strings.Contains(files["mode"], "Seccomp:\t0") {
		t.Errorf("seccomp=unconfined: exit %d %s, mode %q", code, stderr, files["mode"])
	}

	profile := filepath.Join(t.TempDir(), "nomkdir.json")
	write(t, profile, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`, 0o644)
	mk := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN mkdir /made\n"})
	_, stderr, code = buildFiles(t, e.bin, e.root, "--security-opt", "seccomp="+profile, mk)
	if code != 1 || !strings.Contains(stderr, "Operation not permitted") {
		t.Errorf("a profile denying mkdir: exit %d, %s", code, stderr)
	}
	if _, stderr, code = buildFiles(t, e.bin, e.root, "--security-opt", "seccomp:unconfined", mk); code != 0 {
		t.Errorf("seccomp:unconfined (Docker's older spelling): exit %d, %s", code, stderr)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	write(t, bad, "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [\n", 0o644)
	unknownAct := filepath.Join(t.TempDir(), "act.json")
	write(t, unknownAct, `{"defaultAction":"SCMP_ACT_MAYBE"}`, 0o644)
	for _, tc := range []struct{ opt, err string }{
		{"seccomp=" + bad, "line 3"},
		{"seccomp=" + unknownAct, `unknown action "SCMP_ACT_MAYBE"`},
		{"seccomp=" + filepath.Join(t.TempDir(), "missing.json"), "no such file"},
		{"apparmor=unconfined", "berth build supports seccomp="},
		{"seccomp", "want KEY=VALUE"},
	} {
		_, stderr, code := buildFiles(t, e.bin, e.root, "--security-opt", tc.opt, mk)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 125 || !strings.Contains(stderr, tc.err) || len(lines) != 1 {
			t.Errorf("--security-opt %s: exit %d, stderr %q; want 125 and one line with %q", tc.opt, code, stderr, tc.err)
		}
	}
}

// TestBuildNetwork: RUN uses the host's network by default, as Docker's
// legacy builder does (a listener on the host's 127.0.0.1 answers), and
// --network none leaves only a loopback interface, from which the host's
// listener cannot be reached.
func TestBuildNetwork(t *testing.T) {
	e := newBuildEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from the host\n"))
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	probe := "(nc 127.0.0.1 " + port + " </dev/null || echo unreachable) > /net 2>&1; grep -c : /proc/net/dev > /ifaces; grep -o '^ *[a-z0-9]*:' /proc/net/dev | tr -d ' ' > /names"
	for _, tc := range []struct {
		name, flag, want string
	}{
		{"default", "", "hello from the host"},
		{"none", "--network=none", "unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN " + strings.TrimSpace(tc.flag+" "+probe) + "\n"})
			files, stderr, code := buildFiles(t, e.bin, e.root, dir)
			if code != 0 {
				t.Fatalf("build: %s", stderr)
			}
			if !strings.Contains(files["net"], tc.want) {
				t.Errorf("the host's listener: %q, want %q", files["net"], tc.want)
			}
			if tc.name == "none" && strings.TrimSpace(files["names"]) != "lo:" {
				t.Errorf("--network=none interfaces: %q, want only lo", files["names"])
			}
			if tc.name == "default" {
				host, _ := os.ReadFile("/proc/net/dev")
				if strings.TrimSpace(files["ifaces"]) != strconv.Itoa(strings.Count(string(host), ":")) {
					t.Errorf("the default network has %s interfaces, the host %d", files["ifaces"], strings.Count(string(host), ":"))
				}
			}
		})
	}
	// The build's --network none applies to every RUN.
	dir := ctxDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN " + probe + "\n"})
	files, stderr, code := buildFiles(t, e.bin, e.root, "--network", "none", dir)
	if code != 0 || !strings.Contains(files["net"], "unreachable") {
		t.Errorf("build --network none: exit %d %s, %q", code, stderr, files["net"])
	}
}
