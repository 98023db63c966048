package registry

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
)

// BenchmarkManifestGet measures the handler's cost for a manifest GET by
// tag (the registry's hot path), without the network, with and without
// htpasswd auth and with the JSON access log on.
func BenchmarkManifestGet(b *testing.B) {
	h, _ := auth.HashPassword("pw", 4)
	p := filepath.Join(b.TempDir(), "htpasswd")
	os.WriteFile(p, []byte("u:"+string(h)+"\n"), 0o600)
	v, err := auth.NewVerifier(p, auth.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"open", Options{}},
		{"htpasswd", Options{Auth: v}},
		{"htpasswd+log", Options{Auth: v, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := newTestRegistry(b, Options{Logger: bc.opts.Logger})
			tr.pushImage("bench/img", "latest", []byte(`{"os":"linux"}`), []byte("layer"))
			tr.s.opts.Auth = bc.opts.Auth // pushed without credentials; measured with them
			get := httptest.NewRequest("GET", "/v2/bench/img/manifests/latest", nil)
			get.SetBasicAuth("u", "pw")
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
