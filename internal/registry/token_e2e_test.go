package registry_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/auth/authtest"
	"github.com/berth-dev/berth/internal/remote/remotetest"
	"github.com/berth-dev/berth/internal/testenv"
)

// TestTokenAuth runs the same token-auth scenarios against berth's
// registry and the CNCF registry, both configured for one token server:
// skopeo (a real client doing the Bearer dance) pushes and pulls as users
// the server grants different access, and each registry must agree.
func TestTokenAuth(t *testing.T) {
	skopeo := testenv.Peer(t, "skopeo")
	is := authtest.NewIssuer(t, "berth-test-issuer", "registry.test")
	realm := is.Serve(t, authtest.Policy{
		Users: map[string]string{"alice": "alice-pw", "bob": "bob-pw"},
		Grant: func(user string, asked auth.Access) []string {
			var allowed []string
			switch {
			case asked.Type == "registry" && user == "alice":
				allowed = []string{"*"}
			case asked.Type != "repository":
			case user == "alice":
				allowed = []string{"pull", "push", "delete"}
			case user == "bob" && strings.HasPrefix(asked.Name, "team/"):
				allowed = []string{"pull"}
			case user == "" && strings.HasPrefix(asked.Name, "public/"):
				allowed = []string{"pull"}
			}
			var out []string
			for _, a := range asked.Actions {
				for _, ok := range allowed {
					if a == ok || ok == "*" {
						out = append(out, a)
					}
				}
			}
			return out
		},
	})

	dir := t.TempDir()
	berthCmd := exec.Command(testenv.Berth(t), "registry", "serve", "--root", filepath.Join(dir, "berth"), "--addr", "127.0.0.1:0")
	berthCmd.Env = append(os.Environ(), "REGISTRY_AUTH=token", "REGISTRY_AUTH_TOKEN_REALM="+realm,
		"REGISTRY_AUTH_TOKEN_SERVICE=registry.test", "REGISTRY_AUTH_TOKEN_ISSUER=berth-test-issuer",
		"REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE="+is.Bundle)
	berthHost := serveCmd(t, berthCmd).addr
	cncf := remotetest.Start(t, remotetest.Options{Token: &remotetest.Token{
		Realm: realm, Service: "registry.test", Issuer: "berth-test-issuer", RootCertBundle: is.Bundle,
	}})

	src := filepath.Join(dir, "src")
	ociLayoutImage(t, src, 64<<10, 2)
	copyAs := func(creds string, from, to string) error {
		args := []string{"--insecure-policy", "copy", "--src-tls-verify=false", "--dest-tls-verify=false"}
		if creds != "" {
			if strings.HasPrefix(from, "docker://") {
				args = append(args, "--src-creds", creds)
			} else {
				args = append(args, "--dest-creds", creds)
			}
		} else if strings.HasPrefix(from, "docker://") {
			args = append(args, "--src-no-creds")
		}
		cmd := exec.Command(skopeo, append(args, from, to)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "REGISTRY_AUTH_FILE="+filepath.Join(dir, "none.json"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return &skopeoErr{string(out)}
		}
		return nil
	}
	type step struct {
		name     string
		creds    string
		push     bool
		repo     string
		wantFail bool
	}
	steps := []step{
		{"alice pushes", "alice:alice-pw", true, "team/app", false},
		{"alice pushes to public", "alice:alice-pw", true, "public/app", false},
		{"bob pulls", "bob:bob-pw", false, "team/app", false},
		{"bob may not push", "bob:bob-pw", true, "team/other", true},
		{"bob may not pull outside team", "bob:bob-pw", false, "public/app", true},
		{"anonymous pulls public", "", false, "public/app", false},
		{"anonymous may not pull team", "", false, "team/app", true},
		{"wrong password", "bob:nope", false, "team/app", true},
	}
	for _, reg := range []struct{ name, host string }{{"cncf", cncf.Host}, {"berth", berthHost}} {
		for i, s := range steps {
			t.Run(reg.name+"/"+s.name, func(t *testing.T) {
				ref := "docker://" + reg.host + "/" + s.repo + ":v1"
				var err error
				if s.push {
					err = copyAs(s.creds, "oci:"+src+":v1", ref)
				} else {
					dst := filepath.Join(dir, reg.name, "pull", string(rune('a'+i)))
					os.MkdirAll(filepath.Dir(dst), 0o755)
					err = copyAs(s.creds, ref, "oci:"+dst+":v1")
				}
				if (err != nil) != s.wantFail {
					t.Fatalf("error %v, want failure: %v", err, s.wantFail)
				}
			})
		}
		// The challenge sends clients to the token server.
		res := httpDo(t, http.DefaultClient, "GET", "http://"+reg.host+"/v2/", nil)
		want := `Bearer realm="` + realm + `",service="registry.test"`
		if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != want {
			t.Errorf("%s: /v2/ without a token: %d %q, want 401 %q", reg.name, res.StatusCode, res.Header.Get("WWW-Authenticate"), want)
		}
	}

	// berth's own client logs in through the token server and pulls.
	env := []string{"BERTH_ROOT=" + filepath.Join(dir, "client"), "DOCKER_CONFIG=" + filepath.Join(dir, "docker"), "BERTH_CONFIG=" + filepath.Join(dir, "berth.json")}
	r := testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: []string{"login", "-u", "bob", "--password-stdin", berthHost}, Env: env, Stdin: strings.NewReader("bob-pw\n")})
	if r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("berth login: exit %d %s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: []string{"pull", "-q", berthHost + "/team/app:v1"}, Env: env})
	if r.Code != 0 {
		t.Fatalf("berth pull with a token login: exit %d %s", r.Code, r.Stderr)
	}
	if r := testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: []string{"tag", berthHost + "/team/app:v1", berthHost + "/team/app:v2"}, Env: env}); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	r = testenv.Run(t, testenv.Berth(t), testenv.Cmd{Args: []string{"push", berthHost + "/team/app:v2"}, Env: env})
	if r.Code != 1 || !strings.Contains(r.Stderr, "unauthorized") || !strings.Contains(r.Stderr, "you are logged in to "+berthHost+" as bob") {
		t.Fatalf("berth push as a pull-only user: exit %d %s", r.Code, r.Stderr)
	}

	// A token that is good but grants too little is refused with
	// insufficient_scope and the scope to ask for; berth only (registry 2.8
	// does not send error= for it).
	tok := is.Mint(t, authtest.Token{Subject: "bob", Access: []auth.Access{{Type: "repository", Name: "team/app", Actions: []string{"pull"}}}})
	res := httpDo(t, http.DefaultClient, "POST", "http://"+berthHost+"/v2/team/app/blobs/uploads/", nil, "Authorization: Bearer "+tok)
	if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), `scope="repository:team/app:pull,push",error="insufficient_scope"`) {
		t.Fatalf("push with a pull token: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	res = httpDo(t, http.DefaultClient, "GET", "http://"+berthHost+"/v2/team/app/tags/list", nil, "Authorization: Bearer "+tok)
	if res.StatusCode != 200 {
		t.Fatalf("tags with a pull token: %d", res.StatusCode)
	}
	res = httpDo(t, http.DefaultClient, "GET", "http://"+berthHost+"/v2/_catalog", nil, "Authorization: Bearer "+tok)
	if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), `scope="registry:catalog:*"`) {
		t.Fatalf("catalog without registry:catalog:*: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
}

type skopeoErr struct{ out string }

func (e *skopeoErr) Error() string { return strings.TrimSpace(e.out) }
