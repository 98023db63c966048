package remote

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/remote/remotetest"
)

// Logins are shared with skopeo through config.json in both directions, and
// a wrong password is refused before anything is saved.
func TestLoginSharedWithSkopeo(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{User: "alice", Password: "s3cret"})
	ctx := context.Background()
	img := randomImage(t, 16<<10, 1)

	t.Run("skopeo login, berth pull", func(t *testing.T) {
		e := newEnv(t, Settings{})
		authfile := filepath.Join(e.dockerDir, "config.json")
		remotetest.Skopeo(t, "login", "--tls-verify=false", "--authfile", authfile, "-u", "alice", "-p", "s3cret", reg.Host)
		skopeoPush(t, img, reg.Host+"/auth/img:v1", "--authfile", authfile)
		if _, err := e.c.Pull(ctx, mustRef(t, reg.Host+"/auth/img:v1"), e.st, PullOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("berth login, skopeo inspect", func(t *testing.T) {
		e := newEnv(t, Settings{})
		_, err := e.c.Login(ctx, reg.Host, "alice", "wrong")
		var re *Error
		if !errors.As(err, &re) || re.Cause != CauseAuth {
			t.Fatalf("wrong password: err = %v, want an auth error", err)
		}
		if _, err := os.Stat(filepath.Join(e.dockerDir, "config.json")); err == nil {
			t.Fatal("a refused login wrote config.json")
		}
		helper, err := e.c.Login(ctx, reg.Host, "alice", "s3cret")
		if err != nil || helper != "" {
			t.Fatalf("login: helper %q, err %v", helper, err)
		}
		authfile := filepath.Join(e.dockerDir, "config.json")
		st, _ := os.Stat(authfile)
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("config.json mode %v, want 0600", st.Mode().Perm())
		}
		remotetest.Skopeo(t, "inspect", "--tls-verify=false", "--authfile", authfile, "docker://"+reg.Host+"/auth/img:v1")
		found, err := e.c.Credentials().Erase(ctx, reg.Host)
		if err != nil || !found {
			t.Fatalf("logout: found %v err %v", found, err)
		}
		if found, _ := e.c.Credentials().Erase(ctx, reg.Host); found {
			t.Fatal("second logout found credentials")
		}
		_, err = e.c.Pull(ctx, mustRef(t, reg.Host+"/auth/img:v1"), e.st, PullOptions{})
		if !errors.As(err, &re) || re.Cause != CauseAuth {
			t.Fatalf("pull after logout: %v", err)
		}
	})
}

// A docker-credential-* helper configured as credsStore receives the
// secret; config.json keeps only an empty entry, as Docker writes it.
func TestCredentialHelper(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{User: "bob", Password: "pw"})
	ctx := context.Background()
	bin := t.TempDir()
	secrets := t.TempDir()
	// A file-backed helper speaking the docker-credential-helpers protocol.
	script := `#!/bin/sh
set -e
d="` + secrets + `"
case "$1" in
store) cat > "$d/in"; srv=$(sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p' "$d/in"); key=$(echo "$srv" | tr '/:' '__'); cp "$d/in" "$d/$key" ;;
get) srv=$(cat); key=$(echo "$srv" | tr '/:' '__'); if [ -f "$d/$key" ]; then cat "$d/$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) srv=$(cat); key=$(echo "$srv" | tr '/:' '__'); rm -f "$d/$key" ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-berthtest"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	e := newEnv(t, Settings{})
	os.WriteFile(filepath.Join(e.dockerDir, "config.json"), []byte(`{"credsStore":"berthtest","detachKeys":"ctrl-x"}`), 0o600)
	helper, err := e.c.Login(ctx, reg.Host, "bob", "pw")
	if err != nil || helper != "berthtest" {
		t.Fatalf("login: helper %q err %v", helper, err)
	}
	cfg, _ := os.ReadFile(filepath.Join(e.dockerDir, "config.json"))
	if strings.Contains(string(cfg), "pw") || !strings.Contains(string(cfg), `"detachKeys": "ctrl-x"`) || !strings.Contains(string(cfg), reg.Host) {
		t.Fatalf("config.json after helper login:\n%s", cfg)
	}
	got, err := e.c.Credentials().Get(ctx, reg.Host)
	if err != nil || got.Username != "bob" || got.Password != "pw" {
		t.Fatalf("helper get = %+v, %v", got, err)
	}
	img := randomImage(t, 8<<10, 1)
	if _, err := e.c.Push(ctx, mustRef(t, reg.Host+"/helper/img:v1"), img, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if found, err := e.c.Credentials().Erase(ctx, reg.Host); err != nil || !found {
		t.Fatalf("erase: %v %v", found, err)
	}
	if got, _ := e.c.Credentials().Get(ctx, reg.Host); !got.Empty() {
		t.Fatalf("credentials survive logout: %+v", got)
	}
}
