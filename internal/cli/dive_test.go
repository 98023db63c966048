package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/analyze/imagetest"
	"github.com/berth-dev/berth/internal/testenv"
)

// wasteDir writes the Waste image as waste.tar in a fresh directory.
func wasteDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := imagetest.WriteDockerArchive(filepath.Join(dir, "waste.tar"), "waste:latest", dir, imagetest.Waste()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runBerth(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: args, Dir: dir, Env: append([]string{"BERTH_ROOT=" + filepath.Join(dir, "root")}, env...)})
	return r.Stdout, r.Stderr, r.Code
}

// TestDiveCIMatchesDive compares berth's CI output with dive 0.13.1's own,
// recorded in testdata/dive, for dive's rule sources: defaults, .dive-ci,
// flags over the file, --ci-config, a misconfigured rule.
func TestDiveCIMatchesDive(t *testing.T) {
	const passCfg = "rules:\n  lowestEfficiency: 0.1\n  highestWastedBytes: 20MB\n  highestUserWastedPercent: 0.90\n"
	cases := []struct {
		golden string
		cfg    string // .dive-ci content; "" for none
		other  string // other.yaml content
		args   []string
		ciFlag bool // --ci instead of CI=true
		code   int
	}{
		{golden: "default", code: 1},
		{golden: "default", code: 1, ciFlag: true},
		{golden: "pass", cfg: passCfg, code: 0},
		{golden: "wasted", cfg: "rules:\n  lowestEfficiency: disabled\n  highestWastedBytes: 1MB\n  highestUserWastedPercent: disabled\n", code: 1},
		{golden: "misconfigured", cfg: "rules:\n  lowestEfficiency: 2\n", code: 1},
		{golden: "flags", cfg: passCfg, args: []string{"--lowestEfficiency", "0.5"}, code: 1},
		{golden: "ciconfig", other: "rules:\n  highestWastedBytes: 5000000\n  lowestEfficiency: \"0.15\"\n", args: []string{"--ci-config", "other.yaml"}, code: 1},
	}
	dir := wasteDir(t)
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			os.Remove(filepath.Join(dir, ".dive-ci"))
			if c.cfg != "" {
				os.WriteFile(filepath.Join(dir, ".dive-ci"), []byte(c.cfg), 0o644)
			}
			if c.other != "" {
				os.WriteFile(filepath.Join(dir, "other.yaml"), []byte(c.other), 0o644)
			}
			env := []string{"CI=true"}
			args := append([]string{"dive"}, c.args...)
			if c.ciFlag {
				env = []string{"CI="}
				args = append(args, "--ci")
			}
			args = append(args, "docker-archive:waste.tar")
			out, errOut, code := runBerth(t, dir, env, args...)
			want, err := os.ReadFile(filepath.Join("testdata", "dive", c.golden+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("stdout differs from dive's:\n--- got\n%s\n--- want\n%s", out, want)
			}
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %s)", code, c.code, errOut)
			}
			if c.golden == "default" && !strings.Contains(errOut, "/var/lib/apt/lists") {
				t.Errorf("no hints on stderr: %q", errOut)
			}
		})
	}
}

func TestDiveJSONAndImageAnalyze(t *testing.T) {
	dir := wasteDir(t)
	_, errOut, code := runBerth(t, dir, []string{"CI="}, "image", "analyze", "--json", "out.json", "waste.tar")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Layer []struct {
			Command  string `json:"command"`
			FileList []struct {
				Path string `json:"path"`
			} `json:"fileList"`
		} `json:"layer"`
		Image struct {
			InefficientBytes uint64 `json:"inefficientBytes"`
			Files            []struct {
				File   string `json:"file"`
				Layers []int  `json:"layers"`
			} `json:"fileReference"`
			Hints []struct{ Kind string } `json:"hints"`
		} `json:"image"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Image.InefficientBytes != imagetest.WasteWasted || len(doc.Layer) != 5 || doc.Image.Files[0].File != "/tmp/big" || len(doc.Image.Files[0].Layers) != 2 || len(doc.Image.Hints) < 3 {
		t.Errorf("unexpected export: %+v", doc.Image)
	}
}

func TestDiveErrors(t *testing.T) {
	dir := wasteDir(t)
	cases := []struct {
		args []string
		code int
		word string
	}{
		{[]string{"dive"}, 1, "requires"},
		{[]string{"dive", "--source", "nope", "x"}, 125, "unable to determine image source"},
		{[]string{"dive", "--platform", "a/b/c/d/e", "waste.tar"}, 125, "invalid platform"},
		{[]string{"dive", "docker-archive:missing.tar"}, 1, "cannot fetch image"},
		{[]string{"dive", "no-such-image"}, 1, "no such image"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, errOut, code := runBerth(t, dir, []string{"CI=true"}, c.args...)
			if code != c.code || !strings.Contains(errOut, c.word) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, c.code, c.word)
			}
			if strings.Contains(errOut, "goroutine") {
				t.Errorf("stack trace: %s", errOut)
			}
		})
	}
}

// TestDiveTUIInTmux drives the interactive view in a real terminal: tmux
// runs berth, the test sends dive's keys and reads the screen back.
func TestDiveTUIInTmux(t *testing.T) {
	tmux := testenv.Peer(t, "tmux")
	dir := wasteDir(t)
	sock := filepath.Join(dir, "tmux.sock")
	session := "berthdive"
	tm := func(args ...string) string {
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tm("new-session", "-d", "-s", session, "-x", "150", "-y", "45", "-c", dir,
		"env", "CI=", "TERM=xterm-256color", "BERTH_ROOT="+filepath.Join(dir, "root"), testenv.Berth(t), "dive", "waste.tar")
	defer exec.Command(tmux, "-S", sock, "kill-server").Run()
	screen := func() string { return tm("capture-pane", "-p", "-t", session) }
	waitFor := func(what string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := screen()
			if strings.Contains(s, what) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("screen never showed %q:\n%s", what, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("Current Layer Contents")
	tm("send-keys", "-t", session, "j", "j") // layer 3: rm /tmp/big
	waitFor("Index:   3 of 5")
	tm("send-keys", "-t", session, "Tab", "C-u") // tree: hide unmodified
	s := waitFor("○ Unmodified")
	if strings.Contains(s, "bin") && strings.Contains(s, "└── ─ sh") {
		t.Errorf("unmodified /bin/sh still shown:\n%s", s)
	}
	if !strings.Contains(s, "big") || !strings.Contains(s, "config") {
		t.Errorf("changed files missing:\n%s", s)
	}
	tm("send-keys", "-t", session, "C-f", "c", "o", "n", "f", "Enter")
	s = waitFor("Path Filter: conf")
	if strings.Contains(s, "── big") {
		t.Errorf("filter left /tmp/big:\n%s", s)
	}
	tm("send-keys", "-t", session, "q")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := exec.Command(tmux, "-S", sock, "has-session", "-t", session).Run(); err != nil {
			return // berth quit and the session closed
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("berth did not quit on q")
}

// TestDiveFromStore imports an image into the store with `berth import` and
// analyzes it by name, as `berth dive NAME` and with --source berth.
func TestDiveFromStore(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs.tar")
	f, err := os.Create(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	if err := imagetest.WriteTar(f, []imagetest.File{{Path: "bin/", Dir: true}, {Path: "bin/tool", Size: 3000, Mode: 0o755}, {Path: "etc/motd", Size: 20}}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, errOut, code := runBerth(t, dir, nil, "import", rootfs, "mine:1"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	for _, args := range [][]string{{"dive", "mine:1"}, {"dive", "--source", "berth", "mine:1"}, {"image", "analyze", "berth:mine:1"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := runBerth(t, dir, []string{"CI=true"}, args...)
			if code != 0 || !strings.Contains(out, "efficiency: 100.0000 %") || !strings.Contains(out, "Result:PASS") || !strings.Contains(out, "berth://mine:1") {
				t.Errorf("exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}

// TestDiveBuild builds an image that copies the same file twice and checks
// that `berth dive build` analyzes it in CI mode. It needs `berth build`,
// which comes from the build area.
func TestDiveBuild(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY big /big\nCOPY big /big\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "big"), bytes.Repeat([]byte("x"), 300000), 0o644)
	os.WriteFile(filepath.Join(dir, ".dive-ci"), []byte("rules:\n  highestWastedBytes: 100KB\n"), 0o644)
	out, errOut, code := runBerth(t, dir, []string{"CI=true"}, "dive", "build", "-t", "twice:1", ".")
	if code != 1 || !strings.Contains(out, "wastedBytes: 600000 bytes") || !strings.Contains(out, "/big") || !strings.Contains(out, "FAIL") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
}
