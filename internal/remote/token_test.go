package remote

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// tokenAuth puts Docker's token authentication (distribution's token spec:
// a Bearer challenge, GET with Basic credentials for a token and a refresh
// token, POST grant_type=refresh_token for later tokens) in front of
// go-containerregistry's in-process registry.
type tokenAuth struct {
	next          http.Handler
	user, pass    string
	refreshGrants atomic.Int64
	realm         string
}

const (
	testAccess  = "access-token-1"
	testRefresh = "refresh-token-1"
)

func (a *tokenAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		a.token(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testAccess {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+a.realm+`",service="berth-test"`)
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": "authentication required"}}})
		return
	}
	a.next.ServeHTTP(w, r)
}

func (a *tokenAuth) token(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		u, p, ok := r.BasicAuth()
		if !ok || u != a.user || p != a.pass {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reply := map[string]string{"token": testAccess}
		if r.URL.Query().Get("offline_token") == "true" {
			reply["refresh_token"] = testRefresh
		}
		json.NewEncoder(w).Encode(reply)
	case http.MethodPost:
		r.ParseForm()
		if r.Form.Get("grant_type") != "refresh_token" || r.Form.Get("refresh_token") != testRefresh {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a.refreshGrants.Add(1)
		json.NewEncoder(w).Encode(map[string]string{"access_token": testAccess})
	}
}

// Login against a token server stores the identity token it hands out (not
// the password), and later pulls trade that token for access tokens.
func TestIdentityTokenLogin(t *testing.T) {
	auth := &tokenAuth{next: registry.New(), user: "carol", pass: "pw"}
	srv := httptest.NewServer(auth)
	defer srv.Close()
	auth.realm = srv.URL + "/token"
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	seedEnv := newEnv(t, Settings{})
	if _, err := seedEnv.c.Login(ctx, host, "carol", "pw"); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(seedEnv.dockerDir, "config.json"))
	if !strings.Contains(string(raw), `"identitytoken": "`+testRefresh+`"`) || strings.Contains(string(raw), `"auth"`) {
		t.Fatalf("config.json should hold the identity token only:\n%s", raw)
	}
	img := randomImage(t, 8<<10, 1)
	if _, err := seedEnv.c.Push(ctx, mustRef(t, host+"/tok/img:v1"), img, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := seedEnv.c.Pull(ctx, mustRef(t, host+"/tok/img:v1"), seedEnv.st, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if auth.refreshGrants.Load() == 0 {
		t.Fatal("the identity token was never used")
	}
	if _, err := seedEnv.c.CheckLogin(ctx, host, "carol", "nope"); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func FuzzParseSettings(f *testing.F) {
	for _, s := range []string{`{}`, `{"registry-mirrors":["https://m:5000"],"insecure-registries":["10.0.0.0/8"],"max-concurrent-downloads":4}`, `{"registry-mirrors":["x"]}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSettings(data)
		if err != nil {
			return
		}
		if s.MaxConcurrentDownloads < 1 || s.MaxConcurrentUploads < 1 {
			t.Fatalf("accepted settings with no concurrency: %+v", s)
		}
		for _, m := range s.RegistryMirrors {
			if _, err := mirrorHost(m); err != nil {
				t.Fatalf("accepted bad mirror %q", m)
			}
		}
	})
}
