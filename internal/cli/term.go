package cli

import "golang.org/x/sys/unix"

// isTerminal reports whether v (a stream such as a.stdout or a.stdin) is a
// terminal. Progress bars, prompts and TUIs are shown only on one.
func isTerminal(v any) bool {
	f, ok := v.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
