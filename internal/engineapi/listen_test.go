package engineapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sub", "docker.sock")
	ln, err := Listen("unix://"+sock, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ln.DockerHost != "unix://"+sock {
		t.Errorf("DockerHost %q", ln.DockerHost)
	}
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want a socket with 0660", fi.Mode())
	}
	// A second service on the same path is refused while the first runs.
	if _, err := Listen("unix://"+sock, ListenOptions{}); err == nil || !strings.Contains(err.Error(), "another service is listening") {
		t.Errorf("second listener: %v", err)
	}
	ln.Close()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
}

func TestListenRefusals(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "file")
	os.WriteFile(plain, nil, 0o644)

	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // the file stays, nobody answers: a service that died

	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)

	tests := []struct {
		name, uri string
		o         ListenOptions
		want      string // "" = must succeed
	}{
		{"stale socket is taken over", "unix://" + stale, ListenOptions{}, ""},
		{"not a socket", "unix://" + plain, ListenOptions{}, "is not a socket"},
		{"world-writable directory", "unix://" + filepath.Join(open, "s.sock"), ListenOptions{}, "writable by every user"},
		{"bad scheme", "http://127.0.0.1:1", ListenOptions{}, "use unix:///PATH or tcp://"},
		{"non-loopback without TLS", "tcp://0.0.0.0:0", ListenOptions{}, "without TLS"},
		{"half of TLS", "tcp://127.0.0.1:0", ListenOptions{TLSCert: "c.pem"}, "go together"},
		{"loopback", "tcp://127.0.0.1:0", ListenOptions{}, ""},
		{"localhost", "tcp://localhost:0", ListenOptions{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := Listen(tt.uri, tt.o)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				ln.Close()
				return
			}
			if err == nil {
				ln.Close()
				t.Fatalf("Listen(%s) succeeded, want %q", tt.uri, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

// TestListenOtherUsersPath needs root to give a path to another user.
func TestListenOtherUsersPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown a path to another user")
	}
	dir := t.TempDir()
	theirs := filepath.Join(dir, "theirs")
	os.Mkdir(theirs, 0o755)
	os.Chown(theirs, 4242, 4242)
	if _, err := Listen("unix://"+filepath.Join(theirs, "s.sock"), ListenOptions{}); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
		t.Errorf("directory of another user: %v", err)
	}
	sock := filepath.Join(dir, "their.sock")
	l, _ := net.Listen("unix", sock)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	os.Lchown(sock, 4242, 4242)
	if _, err := Listen("unix://"+sock, ListenOptions{}); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
		t.Errorf("socket of another user: %v", err)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("another user's socket was removed: %v", err)
	}
}

func TestListenTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	ln, err := Listen("tcp://0.0.0.0:0", ListenOptions{TLSCert: certFile, TLSKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Version: "test"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done; ln.Close() }()
	port := ln.Addr().(*net.TCPAddr).Port
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Get("https://127.0.0.1:" + itoa(port) + "/_ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	// Plain HTTP on the TLS port gets nothing useful.
	if resp, err := http.Get("http://127.0.0.1:" + itoa(port) + "/_ping"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on the TLS listener")
		}
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func writeSelfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	c, k := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return c, k
}

func TestIdleTimeout(t *testing.T) {
	ln, err := Listen("tcp://127.0.0.1:0", ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := New(Config{Version: "test", IdleTimeout: 300 * time.Millisecond})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- srv.Serve(context.Background(), ln) }()
	// Requests keep it alive past its timeout.
	var lastSent time.Time
	for time.Since(start) < 600*time.Millisecond {
		lastSent = time.Now()
		resp, err := http.Get("http://" + ln.Addr().String() + "/_ping")
		if err != nil {
			t.Fatalf("served only %v: %v", time.Since(start), err)
		}
		resp.Body.Close()
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrIdle) {
			t.Fatalf("Serve: %v, want ErrIdle", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop after the idle timeout")
	}
	// The last request ended after it was sent: the stop came at least
	// the idle timeout after that.
	if d := time.Since(lastSent); d < 300*time.Millisecond {
		t.Errorf("stopped %v after the last request was sent, want at least the 300ms idle timeout", d)
	}
}
