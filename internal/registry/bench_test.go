package registry

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/auth/authtest"
)

// BenchmarkManifestGet measures the handler's cost for a manifest GET by
// tag (the registry's hot path), without the network, with and without
// htpasswd auth, with a bearer token (token auth) and with the JSON access
// log on.
func BenchmarkManifestGet(b *testing.B) {
	h, _ := auth.HashPassword("pw", 4)
	p := filepath.Join(b.TempDir(), "htpasswd")
	os.WriteFile(p, []byte("u:"+string(h)+"\n"), 0o600)
	v, err := auth.NewVerifier(p, auth.Options{})
	if err != nil {
		b.Fatal(err)
	}
	is := authtest.NewIssuer(b, "iss", "svc")
	tv, err := auth.NewTokenVerifier("iss", "svc", is.Bundle)
	if err != nil {
		b.Fatal(err)
	}
	tok := is.Mint(b, authtest.Token{Access: []auth.Access{{Type: "repository", Name: "bench/img", Actions: []string{"pull"}}}})
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"open", Options{}},
		{"htpasswd", Options{Auth: v}},
		{"token", Options{Token: tv, TokenRealm: "https://auth/token", TokenService: "svc"}},
		{"htpasswd+log", Options{Auth: v, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := newTestRegistry(b, Options{Logger: bc.opts.Logger})
			tr.pushImage("bench/img", "latest", []byte(`{"os":"linux"}`), []byte("layer"))
			// Pushed without credentials; measured with them.
			tr.s.opts.Auth, tr.s.opts.Token, tr.s.opts.TokenRealm, tr.s.opts.TokenService = bc.opts.Auth, bc.opts.Token, bc.opts.TokenRealm, bc.opts.TokenService
			get := httptest.NewRequest("GET", "/v2/bench/img/manifests/latest", nil)
			get.SetBasicAuth("u", "pw")
			if bc.opts.Token != nil {
				get.Header.Set("Authorization", "Bearer "+tok)
			}
			get.RemoteAddr = "127.0.0.1:1234"
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				tr.s.ServeHTTP(w, get)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
