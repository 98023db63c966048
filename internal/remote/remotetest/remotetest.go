// Package remotetest starts real registries for berth's registry tests: the
// CNCF distribution registry (/usr/bin/docker-registry) on 127.0.0.1 with a
// temp config, plain, behind htpasswd (bcrypt) auth, or with TLS from a CA
// made for the test; and a Proxy in front of one that can slow, cut or refuse
// what it forwards. Only tests import it.
package remotetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
)

// Options choose how the registry is secured.
type Options struct {
	User, Password string // non-empty: htpasswd (bcrypt) auth
	TLS            bool   // serve HTTPS with a certificate from a fresh CA
	Token          *Token // non-nil: token auth (auth.token) instead
}

// Token is registry:2's auth.token configuration.
type Token struct {
	Realm, Service, Issuer string
	RootCertBundle         string // PEM file
}

// Registry is a running registry.
type Registry struct {
	Host  string // 127.0.0.1:PORT
	Dir   string // storage root
	CAPEM []byte // the CA certificate when TLS

	stop sync.Once
	cmd  *exec.Cmd
}

// Stop kills the registry now (it is stopped at the test's end anyway).
func (r *Registry) Stop(t testing.TB) {
	r.stop.Do(func() {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	})
}

// Start runs docker-registry until the test ends.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	bin := testenv.Peer(t, "docker-registry")
	dir := t.TempDir()
	port := freePort(t)
	r := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port), Dir: filepath.Join(dir, "data")}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", r.Dir, r.Host)
	if o.TLS {
		crt, key, ca := makeCerts(t, dir)
		r.CAPEM = ca
		fmt.Fprintf(&cfg, "  tls:\n    certificate: %s\n    key: %s\n", crt, key)
	}
	if o.User != "" {
		htp := filepath.Join(dir, "htpasswd")
		out, err := exec.Command(testenv.Peer(t, "htpasswd"), "-Bbn", o.User, o.Password).Output()
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		if err := os.WriteFile(htp, out, 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", htp)
	}
	if o.Token != nil {
		fmt.Fprintf(&cfg, "auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			o.Token.Realm, o.Token.Service, o.Token.Issuer, o.Token.RootCertBundle)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting docker-registry: %v", err)
	}
	r.cmd = cmd
	t.Cleanup(func() {
		r.Stop(t)
		logf.Close()
	})
	waitUp(t, r.Host, filepath.Join(dir, "registry.log"))
	return r
}

func waitUp(t testing.TB, host, log string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", host, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
	b, _ := os.ReadFile(log)
	t.Fatalf("docker-registry did not start on %s:\n%s", host, b)
}

func freePort(t testing.TB) int { return testenv.FreePort(t) }

// makeCerts writes a CA and a server certificate for 127.0.0.1/localhost and
// returns the server cert and key paths and the CA PEM.
func makeCerts(t testing.TB, dir string) (crtPath, keyPath string, caPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	crtPath, keyPath = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return crtPath, keyPath, caPEM
}

// TrustCA writes the registry's CA into certsDir/HOST/ca.crt, Docker's
// certs.d layout.
func (r *Registry) TrustCA(t testing.TB, certsDir string) {
	t.Helper()
	d := filepath.Join(certsDir, r.Host)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "ca.crt"), r.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Skopeo runs skopeo with args and fails the test on error.
func Skopeo(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(testenv.Peer(t, "skopeo"), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
