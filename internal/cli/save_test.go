package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns both sides of a new pseudo-terminal: the master, where a
// test types and reads the screen, and the terminal a program is given.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestTerminalStreams: save refuses to write an archive to a terminal and
// load refuses to wait for one on a terminal, as docker does.
func TestTerminalStreams(t *testing.T) {
	_, tty := openPTY(t)
	for _, tc := range []struct {
		name  string
		args  []string
		stdin *os.File
		out   *os.File
		want  string
	}{
		{"save", []string{"save", "busybox"}, nil, tty, "berth: error: cowardly refusing to save to a terminal. Use the -o flag or redirect\n"},
		{"load", []string{"load"}, tty, nil, "berth: error: requested load from stdin, but stdin is empty\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			a := &app{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &stderr}
			if tc.stdin != nil {
				a.stdin = tc.stdin
			}
			if tc.out != nil {
				a.stdout = tc.out
			}
			code := a.run(context.Background(), append([]string{"--root", t.TempDir()}, tc.args...))
			if code != 1 || !strings.HasPrefix(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}
