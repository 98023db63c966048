package remote

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRegistryErrorBodiesAreBounded: what a registry writes in an error
// (a 20 KB body, a structured message, newlines and terminal escapes) is
// cut and escaped in berth's one-line error.
func TestRegistryErrorBodiesAreBounded(t *testing.T) {
	junk := strings.Repeat("junk\n\x1b[31m", 2<<10)
	for _, tc := range []struct {
		name string
		body string
		want string
	}{
		{"raw body", junk, "unexpected status code 500"},
		{"structured message", `{"errors":[{"code":"UNKNOWN","message":` + quoteJSON(junk) + `}]}`, "UNKNOWN: junk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					return
				}
				w.WriteHeader(http.StatusInternalServerError)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			e := newEnv(t, Settings{})
			host := strings.TrimPrefix(srv.URL, "http://")
			_, err := e.c.Pull(context.Background(), mustRef(t, host+"/x/y:1"), e.st, PullOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %.300v, want one saying %q", err, tc.want)
			}
			if msg := err.Error(); len(msg) > 800 || strings.ContainsAny(msg, "\n\x1b") {
				t.Fatalf("error of %d bytes repeats the body: %.300q…", len(msg), msg)
			}
		})
	}
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20:
			b.WriteString(`\u001b`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
