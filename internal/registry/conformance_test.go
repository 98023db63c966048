package registry_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// conformanceVersion is the distribution-spec conformance suite the tests
// run; the Go module proxy serves it.
const conformanceVersion = "v0.0.0-20260831232431-97274622c111"

var (
	suiteOnce sync.Once
	suitePath string
	suiteErr  error
)

// conformanceSuite builds the suite (a test package) into a binary, once.
func conformanceSuite(t *testing.T) string {
	t.Helper()
	suiteOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-conformance-")
		if err != nil {
			suiteErr = err
			return
		}
		gomod := "module conformancebuild\n\ngo 1.24\n\nrequire github.com/opencontainers/distribution-spec/conformance " + conformanceVersion + "\n"
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
			suiteErr = err
			return
		}
		suitePath = filepath.Join(dir, "conformance.test")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", suitePath, "github.com/opencontainers/distribution-spec/conformance")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			suiteErr = fmt.Errorf("building the conformance suite: %v\n%s", err, out)
		}
	})
	if suiteErr != nil {
		t.Fatal(suiteErr)
	}
	return suitePath
}

type junitCase struct {
	Name    string `xml:"name,attr"`
	Status  string `xml:"status,attr"`
	Failure *struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	} `xml:"failure"`
	SystemErr string `xml:"system-err"`
}

type junitSuites struct {
	Suites []struct {
		Cases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestConformance runs the OCI distribution-spec conformance suite against
// `berth registry serve`, with and without htpasswd auth, in the released
// (1.1) and the dev profile, and fails on any failed test case.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the OCI conformance suite")
	}
	suite := conformanceSuite(t)
	htpasswd := makeHtpasswd(t, "conformance", "c0nf0rm")
	tests := []struct {
		name, version string
		auth          bool
	}{
		{"1.1", "1.1", false},
		{"1.1 with htpasswd", "1.1", true},
		{"dev", "dev", false},
		{"dev with htpasswd", "dev", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.auth {
				args = append(args, "--htpasswd", htpasswd)
			}
			srv := serve(t, t.TempDir(), args...)
			runConformance(t, suite, srv.addr, tc.version, tc.auth, i)
		})
	}
}

// runConformance runs the suite against the registry at addr (user
// "conformance", password "c0nf0rm" when auth) and fails on any failed case.
func runConformance(t *testing.T, suite, addr, version string, auth bool, i int) {
	t.Helper()
	results := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite, "-test.timeout", "170s")
	cmd.Dir = results
	// Fresh repositories per run: leftovers change the tag-list results.
	stamp := fmt.Sprintf("%d%d", time.Now().UnixNano(), i)
	env := []string{
		"OCI_REGISTRY=" + addr, "OCI_TLS=disabled", "OCI_VERSION=" + version,
		"OCI_REPO1=conformance/one" + stamp, "OCI_REPO2=conformance/two" + stamp,
		"OCI_RESULTS_DIR=" + results, "OCI_LOG=error",
	}
	if auth {
		env = append(env, "OCI_USERNAME=conformance", "OCI_PASSWORD=c0nf0rm")
	}
	cmd.Env = append(os.Environ(), env...)
	out, runErr := cmd.CombinedOutput()
	data, err := os.ReadFile(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("no junit.xml (%v): %v\n%s", runErr, err, tail(out))
	}
	var js junitSuites
	if err := xml.Unmarshal(data, &js); err != nil {
		t.Fatalf("parsing junit.xml: %v", err)
	}
	counts := map[string]int{}
	for _, s := range js.Suites {
		for _, c := range s.Cases {
			counts[c.Status]++
			// This suite version reports results in the status
			// attribute; <failure> is checked too, for newer ones.
			if c.Failure != nil || (c.Status != "passed" && c.Status != "skipped" && c.Status != "disabled") {
				t.Errorf("%s: %s\n%s", c.Name, c.Status, lastLines(c.SystemErr, 15))
			}
		}
	}
	if counts["passed"] == 0 {
		t.Fatalf("no test case passed: %v\n%s", counts, tail(out))
	}
	if runErr != nil && !t.Failed() {
		t.Fatalf("suite failed without a failed case: %v\n%s", runErr, tail(out))
	}
	t.Logf("%s: %v", version, counts)
}

func tail(b []byte) string { return lastLines(string(b), 40) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
