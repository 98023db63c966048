package remote

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultCertsDirs are where Docker looks for per-registry trust:
// DIR/HOST[:PORT]/{*.crt CA files, *.cert + *.key client pairs}.
func DefaultCertsDirs() []string {
	dirs := []string{"/etc/docker/certs.d"}
	dirs = append(dirs, filepath.Join(DockerConfigDir(), "certs.d"))
	return dirs
}

// tlsConfig builds the TLS configuration for host: the system roots plus any
// CA in a certs.d directory for the host, client certificates from there,
// and no verification at all when the user listed the host as insecure.
func tlsConfig(host string, certsDirs []string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		cfg.InsecureSkipVerify = true // the user asked for it with --insecure-registry
	}
	var pool *x509.CertPool
	for _, d := range certsDirs {
		dir := filepath.Join(d, host)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				if pool == nil {
					if pool, err = x509.SystemCertPool(); err != nil || pool == nil {
						pool = x509.NewCertPool()
					}
				}
				pem, err := os.ReadFile(p)
				if err != nil {
					return nil, fmt.Errorf("reading CA certificate: %w", err)
				}
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("CA certificate %s: no PEM certificate in file", p)
				}
			case strings.HasSuffix(e.Name(), ".cert"):
				key := strings.TrimSuffix(p, ".cert") + ".key"
				pair, err := tls.LoadX509KeyPair(p, key)
				if err != nil {
					return nil, fmt.Errorf("client certificate %s: %w", p, err)
				}
				cfg.Certificates = append(cfg.Certificates, pair)
			case strings.HasSuffix(e.Name(), ".key"):
				if _, err := os.Stat(strings.TrimSuffix(p, ".key") + ".cert"); err != nil {
					return nil, fmt.Errorf("client key %s has no matching .cert file", p)
				}
			}
		}
	}
	cfg.RootCAs = pool // nil means the system roots
	return cfg, nil
}

// responseHeaderTimeout bounds the wait for the answer to a request whose
// body was sent (the stall guard watches everything else).
const responseHeaderTimeout = 60 * time.Second

// newHTTPTransport returns the base transport for one registry host. Many
// idle connections per host let parallel layer transfers reuse connections.
func newHTTPTransport(tc *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
}

// tlsProblem names what is wrong with a certificate, or "" when err is not a
// certificate verification failure.
func tlsProblem(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ua):
		return "certificate signed by unknown authority"
	case errors.As(err, &he):
		return he.Error()
	case errors.As(err, &ci):
		return ci.Error()
	case errors.As(err, &cv):
		return cv.Err.Error()
	}
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return "TLS alert from server: " + ae.Error()
	}
	return ""
}

// notTLS reports whether err means the server answered a TLS handshake with
// plain HTTP, the signal to fall back to http:// for an allowed host.
func notTLS(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) || strings.Contains(err.Error(), "first record does not look like a TLS handshake")
}
