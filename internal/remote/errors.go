package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/untrusted"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Cause is why a registry operation failed, in the four ways a user can act
// on, or CauseOther.
type Cause int

const (
	CauseOther       Cause = iota
	CauseUnreachable       // DNS or connection failure
	CauseAuth              // 401/403: missing or wrong credentials
	CauseNotFound          // no such repository, tag or digest
	CauseTLS               // certificate not trusted or invalid
	CauseStalled           // the registry stopped sending or taking data
)

// Error is a classified registry failure. Its message is one line; Hint says
// what to do.
type Error struct {
	Cause Cause
	Host  string // registry host as the user named it
	Ref   string // HOST/NAME:TAG when known
	Op    string // "pulling", "pushing", "logging in to", "searching"
	Err   error
	// User is who the saved credentials for Host name, when an auth
	// failure happened while logged in: the advice is then about that
	// account's rights, not about logging in.
	User string
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	switch e.Cause {
	case CauseUnreachable:
		return fmt.Sprintf("cannot reach registry %s: %s", e.Host, netDetail(e.Err))
	case CauseAuth:
		what := e.Ref
		if what == "" {
			what = e.Host
		}
		return fmt.Sprintf("unauthorized: access to %s denied (%s)", what, authDetail(e.Err))
	case CauseNotFound:
		return "manifest unknown: " + e.Ref
	case CauseTLS:
		detail := tlsProblem(e.Err)
		if detail == "" {
			detail = e.Err.Error()
		}
		return fmt.Sprintf("TLS verification of %s failed: %s", e.Host, detail)
	case CauseStalled:
		// The stall says it all; what the layers between wrapped around
		// it ("downloading blob …") it repeats.
		var se *StallError
		if errors.As(e.Err, &se) {
			what := e.Ref
			if what == "" {
				what = e.Host
			}
			return fmt.Sprintf("%s %s: %v", e.Op, what, se)
		}
	}
	if e.Ref != "" {
		return fmt.Sprintf("%s %s: %s", e.Op, e.Ref, bounded(e.Err))
	}
	return fmt.Sprintf("%s %s: %s", e.Op, e.Host, bounded(e.Err))
}

// bounded is err's message with what a registry wrote in it (a transport
// error repeats up to 64 KiB of the response body, newlines and terminal
// escapes included) cut and escaped by untrusted.Text.
func bounded(err error) string {
	msg := err.Error()
	var te *transport.Error
	if errors.As(err, &te) {
		if raw := te.Error(); len(raw) > 0 {
			return strings.Replace(msg, raw, untrusted.Text(raw), 1)
		}
	}
	return msg
}

// Hint is the advice printed under the error.
func (e *Error) Hint() string {
	switch e.Cause {
	case CauseUnreachable:
		return "check the registry address and that it is running and reachable from here"
	case CauseAuth:
		if e.User != "" {
			what := e.Ref
			if what == "" {
				what = e.Host
			}
			return fmt.Sprintf("you are logged in to %s as %s: check that this account may access %s, or log in as another with: berth login %s", e.Host, e.User, what, loginName(e.Host))
		}
		return "to authenticate, run: berth login " + loginName(e.Host)
	case CauseNotFound:
		return "check the repository name and tag (or digest); the image may not exist or you may need to log in"
	case CauseStalled:
		return fmt.Sprintf("check that %s is up and the network to it works, then try again; %s=2m waits longer", e.Host, StallTimeoutEnv)
	case CauseTLS:
		return fmt.Sprintf("to trust the registry's CA put it in /etc/docker/certs.d/%s/ca.crt (or ~/.docker/certs.d/%s/ca.crt); to skip verification use --insecure-registry %s", e.Host, e.Host, e.Host)
	}
	return ""
}

func loginName(host string) string {
	if ConfigHost(host) == "index.docker.io" {
		return ""
	}
	return host
}

func netDetail(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("lookup %s: %s", dnsErr.Name, dnsErr.Err)
	}
	var op *net.OpError
	if errors.As(err, &op) {
		addr := ""
		if op.Addr != nil {
			addr = op.Addr.String()
		}
		cause := op.Err
		for {
			u := errors.Unwrap(cause)
			if u == nil {
				break
			}
			cause = u
		}
		if addr != "" {
			return fmt.Sprintf("%s %s: %v", op.Op, addr, cause)
		}
		return fmt.Sprintf("%s: %v", op.Op, cause)
	}
	return err.Error()
}

func authDetail(err error) string {
	var te *transport.Error
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return fmt.Sprintf("%s: %s", untrusted.Text(string(te.Errors[0].Code)), untrusted.Text(te.Errors[0].Message))
	}
	if errors.As(err, &te) {
		return http.StatusText(te.StatusCode)
	}
	var ae *authError
	if errors.As(err, &ae) {
		return ae.msg
	}
	return bounded(err)
}

// authError is a credential rejection found by berth itself (login check).
type authError struct{ msg string }

func (e *authError) Error() string { return "unauthorized: " + e.msg }

// notFoundError is a manifest the registry does not have.
type notFoundError struct{ ref string }

func (e *notFoundError) Error() string { return "manifest unknown: " + e.ref }

// classify wraps err as an *Error with the cause found in it. Context
// cancellation passes through untouched so the CLI can report an interrupt.
func classify(err error, op, host, ref string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	return &Error{Cause: causeOf(err), Host: host, Ref: ref, Op: op, Err: err}
}

func causeOf(err error) Cause {
	var se *StallError
	if errors.As(err, &se) {
		return CauseStalled
	}
	if tlsProblem(err) != "" {
		return CauseTLS
	}
	var ae *authError
	if errors.As(err, &ae) {
		return CauseAuth
	}
	var nf *notFoundError
	if errors.As(err, &nf) {
		return CauseNotFound
	}
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return CauseAuth
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return CauseNotFound
			}
		}
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return CauseAuth
		case http.StatusNotFound:
			return CauseNotFound
		}
	}
	var dnsErr *net.DNSError
	var op *net.OpError
	if errors.As(err, &dnsErr) || errors.As(err, &op) {
		return CauseUnreachable
	}
	return CauseOther
}
