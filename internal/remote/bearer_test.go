package remote

import "testing"

func TestCheckRealm(t *testing.T) {
	for _, tc := range []struct {
		realm, registry string
		plain           bool // the registry is reached over HTTP
		ok              bool
	}{
		{"https://auth.docker.io/token", "registry-1.docker.io", false, true},
		{"https://auth.example.com/token", "10.0.0.5:5000", false, true},
		{"http://127.0.0.1:5001/auth", "127.0.0.1:5000", true, true}, // docker_auth beside a local registry
		{"http://localhost:5001/auth", "localhost:5000", true, true},
		{"http://127.0.0.1:5001/auth", "127.0.0.1:5000", false, false}, // credentials in clear from a TLS registry
		{"https://10.0.0.6/token", "10.0.0.5:5000", false, true},       // internal token server, internal registry
		{"https://registry.example.com:5000/token", "registry.example.com:5000", false, true},
		{"https://10.0.0.6/token", "registry.example.com", false, false}, // public registry aiming inward
		{"http://127.0.0.1:8080/token", "registry.example.com", true, false},
		{"http://[::1]:8080/token", "203.0.113.7:5000", true, false},
		{"http://169.254.169.254/latest/meta-data", "10.0.0.5:5000", true, false}, // cloud metadata, never
		{"http://[fe80::1]/token", "127.0.0.1:5000", true, false},
		{"ftp://auth.example.com/token", "registry.example.com", true, false},
		{"/token", "registry.example.com", true, false},
	} {
		err := checkRealm(tc.realm, tc.registry, tc.plain)
		if (err == nil) != tc.ok {
			t.Errorf("checkRealm(%q, %q) = %v, want ok=%v", tc.realm, tc.registry, err, tc.ok)
		}
	}
}
