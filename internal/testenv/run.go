package testenv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Cmd is one run of a program in a test.
type Cmd struct {
	Args  []string
	Env   []string // added to the test's environment
	Stdin io.Reader
	Dir   string
}

// Result is what a run printed and its exit status.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs bin and returns its output and exit status; it fails the test
// only when the program cannot be started. A Go panic or stack trace on
// stderr fails the test: berth must answer bad input with one error line.
func Run(t testing.TB, bin string, c Cmd) Result {
	t.Helper()
	cmd := exec.Command(bin, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdin = c.Stdin
	cmd.Dir = c.Dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s %v: %v", bin, c.Args, err)
	}
	if strings.Contains(res.Stderr, "panic: ") || strings.Contains(res.Stderr, "goroutine 1 [") {
		t.Fatalf("%s %v crashed:\n%s", bin, c.Args, res.Stderr)
	}
	return res
}
