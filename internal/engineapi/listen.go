package engineapi

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultURI is where the service listens when no address is given, as
// podman's service picks it: /run/berth/docker.sock for root, else
// $XDG_RUNTIME_DIR/berth/docker.sock (/run/user/UID when that is unset).
func DefaultURI() string {
	if os.Geteuid() == 0 {
		return "unix:///run/berth/docker.sock"
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = fmt.Sprintf("/run/user/%d", os.Geteuid())
	}
	return "unix://" + filepath.Join(dir, "berth", "docker.sock")
}

// ListenOptions are the TLS files a TCP listener needs when it is not on
// the loopback interface.
type ListenOptions struct {
	TLSCert, TLSKey string
}

// Listener is an open listener and the DOCKER_HOST value that reaches it.
type Listener struct {
	net.Listener
	DockerHost string
	cleanup    func()
}

// Close stops listening and removes the socket file it created.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	if l.cleanup != nil {
		l.cleanup()
		l.cleanup = nil
	}
	return err
}

// Listen opens uri: unix:///PATH or tcp://HOST:PORT. A Unix socket is
// created 0660 (owner and group, as Docker's); a path that belongs to
// another user, or a socket another server still answers on, is refused. A
// TCP address off the loopback interface needs TLS: without it, anyone who
// can reach the port would control the image store.
func Listen(uri string, o ListenOptions) (*Listener, error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "unix" && u.Scheme != "tcp") {
		return nil, fmt.Errorf("invalid address %q: use unix:///PATH or tcp://127.0.0.1:PORT", uri)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	switch u.Scheme {
	case "unix":
		if o.TLSCert != "" {
			return nil, errors.New("TLS is for TCP addresses; a Unix socket is guarded by its permissions")
		}
		path := u.Path
		if u.Host != "" { // unix://relative/path
			path = u.Host + u.Path
		}
		if path == "" {
			return nil, fmt.Errorf("invalid address %q: no socket path", uri)
		}
		return listenUnix(path)
	default:
		return listenTCP(u.Host, o)
	}
}

func listenUnix(path string) (*Listener, error) {
	path = filepath.Clean(path)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket directory: %w", err)
	}
	if err := checkOwner(dir, true); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if err := checkOwner(path, false); err != nil {
			return nil, err
		}
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket: remove it or choose another path", path)
		}
		// A socket left by a service that died is taken over; one that
		// still answers belongs to a running service.
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another service is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // removed by Close only if it is still ours
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, err
	}
	st, _ := os.Lstat(path)
	return &Listener{Listener: ln, DockerHost: "unix://" + path, cleanup: func() {
		// Only remove the socket if nobody replaced it meanwhile.
		if now, err := os.Lstat(path); err == nil && st != nil && os.SameFile(now, st) {
			os.Remove(path)
		}
	}}, nil
}

// checkOwner refuses a path owned by another user (root may own the
// directory: /run, /tmp). A directory others may write to without the
// sticky bit lets them swap the socket, so it is refused too.
func checkOwner(path string, isDir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	me := uint32(os.Geteuid())
	if st.Uid != me && !(isDir && st.Uid == 0) {
		return fmt.Errorf("%s belongs to another user (uid %d): choose a path of your own", path, st.Uid)
	}
	if isDir && fi.Mode().Perm()&0o002 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%s is writable by every user: choose a directory of your own", path)
	}
	return nil
}

func listenTCP(hostport string, o ListenOptions) (*Listener, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("invalid TCP address %q: use tcp://HOST:PORT", hostport)
	}
	if o.TLSCert == "" && !loopbackHost(host) {
		return nil, fmt.Errorf("refusing to serve on %s without TLS: the API gives full control of the image store; use a loopback address (tcp://127.0.0.1:%s) or --tls-cert and --tls-key", hostport, port)
	}
	ln, err := net.Listen("tcp", hostport)
	if err != nil {
		return nil, err
	}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("loading --tls-cert/--tls-key: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	return &Listener{Listener: ln, DockerHost: "tcp://" + ln.Addr().String()}, nil
}

// loopbackHost reports whether host is a loopback IP or "localhost".
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
