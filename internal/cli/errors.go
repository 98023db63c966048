package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Exit statuses, as Docker's CLI uses them.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 125
	exitInterrupted = 130
)

// usageError marks bad flags or arguments (exit 125).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries an explicit exit status chosen by a command (scan's
// --exit-code gate, a failed CI rule) with an optional message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// hinted attaches a "hint:" line to an error, shown under the error line.
type hinted struct {
	err  error
	hint string
}

func (e hinted) Error() string { return e.err.Error() }
func (e hinted) Unwrap() error { return e.err }

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return hinted{err, hint}
}

// report prints err as berth's one-line error (plus any hint) and picks the
// exit status. It is the only place where errors become exit codes.
func (a *app) report(ctx context.Context, err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(a.stderr, "berth: error: %s\n", ee.msg)
		}
		return ee.code
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(a.stderr, "berth: interrupted")
		return exitInterrupted
	}
	msg := strings.TrimSpace(err.Error())
	if msg != "" {
		fmt.Fprintf(a.stderr, "berth: error: %s\n", msg)
	}
	var h hinted
	// A library that knows what the user can do about its error says so
	// with a Hint method (remote.Error, build's request errors).
	var lh interface{ Hint() string }
	if errors.As(err, &h) && h.hint != "" {
		fmt.Fprintf(a.stderr, "hint: %s\n", h.hint)
	} else if hint, ok := argHint(err); ok {
		fmt.Fprintf(a.stderr, "hint: %s\n", hint)
	} else if errors.As(err, &lh) && lh.Hint() != "" {
		fmt.Fprintf(a.stderr, "hint: %s\n", lh.Hint())
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}
