package engineapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/remote"
	"github.com/moby/moby/api/types/registry"
)

func TestRegistryAuth(t *testing.T) {
	js := `{"username":"me","password":"p@ss/+","serveraddress":"localhost:5000"}`
	tests := []struct {
		name, header string
		want         remote.AuthEntry
		bad          bool
	}{
		{"empty", "", remote.AuthEntry{}, false},
		{"empty object", base64.URLEncoding.EncodeToString([]byte("{}")), remote.AuthEntry{}, false},
		{"docker CLI (base64url)", base64.URLEncoding.EncodeToString([]byte(js)), remote.AuthEntry{Username: "me", Password: "p@ss/+"}, false},
		{"standard alphabet", base64.StdEncoding.EncodeToString([]byte(js)), remote.AuthEntry{Username: "me", Password: "p@ss/+"}, false},
		{"unpadded", base64.RawURLEncoding.EncodeToString([]byte(js)), remote.AuthEntry{Username: "me", Password: "p@ss/+"}, false},
		{"auth field only", base64.URLEncoding.EncodeToString([]byte(`{"auth":"` + base64.StdEncoding.EncodeToString([]byte("u:pw")) + `"}`)), remote.AuthEntry{Username: "u", Password: "pw"}, false},
		{"identity token", base64.URLEncoding.EncodeToString([]byte(`{"identitytoken":"tok"}`)), remote.AuthEntry{IdentityToken: "tok"}, false},
		{"not base64", "%%%", remote.AuthEntry{}, true},
		{"not JSON", base64.URLEncoding.EncodeToString([]byte("nope")), remote.AuthEntry{}, true},
		{"too large", strings.Repeat("A", maxAuthHeader+1), remote.AuthEntry{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ac, err := registryAuth(tt.header)
			if tt.bad {
				if err == nil || statusOf(err) != http.StatusBadRequest {
					t.Fatalf("err %v, want a 400", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := authEntry(*ac); got != tt.want {
				t.Errorf("entry %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRegistryConfig(t *testing.T) {
	m := map[string]registry.AuthConfig{
		"localhost:5000":              {Username: "a", Password: "1"},
		"https://index.docker.io/v1/": {Username: "b", Password: "2"},
	}
	b, _ := json.Marshal(m)
	got, err := registryConfig(base64.URLEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	creds := credentialsFor("", nil, got)
	if creds["localhost:5000"].Username != "a" || creds["index.docker.io"].Username != "b" {
		t.Errorf("credentials %+v", creds)
	}
	// docker-py's older {"configs": …} wrapping.
	w, _ := json.Marshal(map[string]any{"configs": m})
	got, err = registryConfig(base64.URLEncoding.EncodeToString(w))
	if err != nil || got["localhost:5000"].Username != "a" {
		t.Errorf("wrapped: %v %+v", err, got)
	}
	if _, err := registryConfig("!!"); err == nil {
		t.Error("bad header accepted")
	}
}

func FuzzRegistryHeaders(f *testing.F) {
	f.Add(base64.URLEncoding.EncodeToString([]byte(`{"username":"me","password":"x"}`)))
	f.Add(base64.URLEncoding.EncodeToString([]byte(`{"configs":{"h":{"auth":"dTpw"}}}`)))
	f.Add("")
	f.Add("e30=")
	f.Fuzz(func(t *testing.T, h string) {
		if ac, err := registryAuth(h); err == nil {
			_ = authEntry(*ac)
		}
		if m, err := registryConfig(h); err == nil {
			_ = credentialsFor("x", nil, m)
		}
	})
}

func TestStreamErrors(t *testing.T) {
	// Before anything was sent, a failure is the response itself.
	rec := httptest.NewRecorder()
	s := newStream(rec)
	s.fail(notFound(errors.New("no such image")))
	if rec.Code != 404 || strings.TrimSpace(rec.Body.String()) != `{"message":"no such image"}` {
		t.Errorf("early failure: %d %s", rec.Code, rec.Body)
	}
	// After, it goes inside the stream with both shapes clients read.
	rec = httptest.NewRecorder()
	s = newStream(rec)
	s.Status("latest", "Pulling from library/busybox")
	s.Bytes("abc", 5, 10)
	s.Bytes("abc", 6, 10) // within progressEvery: dropped
	s.Bytes("abc", 10, 10)
	s.fail(errors.New("boom"))
	lines := strings.Split(strings.TrimSuffix(rec.Body.String(), "\r\n"), "\r\n")
	want := []string{
		`{"status":"Pulling from library/busybox","id":"latest"}`,
		`{"status":"Downloading","progressDetail":{"current":5,"total":10},"id":"abc"}`,
		`{"status":"Downloading","progressDetail":{"current":10,"total":10},"id":"abc"}`,
		`{"errorDetail":{"code":500,"message":"boom"},"error":"boom"}`,
	}
	if rec.Code != 200 || strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("stream %d:\n%s\nwant:\n%s", rec.Code, strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !rec.Flushed {
		t.Error("stream not flushed")
	}
}
