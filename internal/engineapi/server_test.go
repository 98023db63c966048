package engineapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
)

type testServer struct{ URL string }

// newTestServer serves the API over a fresh store with Serve, on a
// loopback port, as `berth system service` does.
func newTestServer(t *testing.T) (*testServer, string) {
	t.Helper()
	root := t.TempDir()
	srv := New(Config{
		OpenStore: func(ctx context.Context) (*store.Store, error) { return store.Open(ctx, root) },
		Remote: func(auth map[string]remote.AuthEntry) (*remote.Client, error) {
			return remote.New(remote.Options{Settings: &remote.Settings{}, DockerConfigDir: t.TempDir(), Auth: auth})
		},
		Version: "test",
	})
	ln, err := Listen("tcp://127.0.0.1:0", ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		ln.Close()
	})
	return &testServer{URL: "http://" + ln.Addr().String()}, root
}

func do(t *testing.T, method, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestNegotiation(t *testing.T) {
	ts, _ := newTestServer(t)
	tests := []struct {
		method, path string
		status       int
		body         string // substring of the body
		contentType  string
	}{
		{"GET", "/_ping", 200, "OK", "text/plain; charset=utf-8"},
		{"HEAD", "/_ping", 200, "", "text/plain; charset=utf-8"},
		{"GET", "/v1.50/_ping", 200, "OK", "text/plain; charset=utf-8"},
		{"GET", "/v1.24/_ping", 200, "OK", "text/plain; charset=utf-8"},
		{"GET", "/v1.51/_ping", 400, `{"message":"client version 1.51 is too new. Maximum supported API version is 1.50"}`, "application/json"},
		// Before 1.24 the daemon answers in plain text, as those clients expect.
		{"GET", "/v1.23/version", 400, "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version\n", "text/plain; charset=utf-8"},
		{"GET", "/v1.12/version", 400, "client version 1.12 is too old.", "text/plain; charset=utf-8"},
		{"GET", "/version", 200, `"Name":"Engine"`, "application/json"},
		{"GET", "/v1.41/version", 200, `"ApiVersion":"1.50"`, "application/json"},
		{"GET", "/info", 200, `"LocalNodeState":"inactive"`, "application/json"},
		{"GET", "/nothing/here", 404, `{"message":"page not found"}`, "application/json"},
		{"GET", "/v1.50/nothing", 404, `{"message":"page not found"}`, "application/json"},
		{"GET", "/vx/_ping", 404, "page not found", "application/json"},
		{"OPTIONS", "/anything", 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := do(t, tt.method, ts.URL+tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(body, tt.body) {
				t.Errorf("body %q does not contain %q", body, tt.body)
			}
			if tt.contentType != "" && resp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.contentType)
			}
			if resp.Header.Get("Api-Version") != "1.50" || resp.Header.Get("Ostype") != "linux" || !strings.HasPrefix(resp.Header.Get("Server"), "berth/test") {
				t.Errorf("headers: %v", resp.Header)
			}
		})
	}
}

func TestPingHeaders(t *testing.T) {
	ts, _ := newTestServer(t)
	for _, m := range []string{"GET", "HEAD"} {
		resp, _ := do(t, m, ts.URL+"/_ping", nil)
		for k, want := range map[string]string{"Builder-Version": "1", "Docker-Experimental": "false", "Swarm": "inactive", "Api-Version": "1.50", "Ostype": "linux"} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s /_ping: %s = %q, want %q", m, k, got, want)
			}
		}
	}
}

func TestInfoAndVersionShapes(t *testing.T) {
	ts, root := newTestServer(t)
	_, body := do(t, "GET", ts.URL+"/v1.50/info", nil)
	var info struct {
		Images        int
		DockerRootDir string
		OSType        string
		Swarm         struct{ LocalNodeState string }
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatal(err)
	}
	if info.Images != 0 || info.DockerRootDir != root || info.OSType != "linux" || info.Swarm.LocalNodeState != "inactive" {
		t.Errorf("info: %+v", info)
	}
	_, body = do(t, "GET", ts.URL+"/version", nil)
	var v struct {
		Version, ApiVersion, MinAPIVersion string
		Components                         []struct{ Name, Version string }
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.ApiVersion != "1.50" || v.MinAPIVersion != "1.24" || len(v.Components) != 1 || v.Components[0].Name != "Engine" || v.Components[0].Version != "test" {
		t.Errorf("version: %+v", v)
	}
}

func TestAbsentObjects(t *testing.T) {
	ts, _ := newTestServer(t)
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/v1.50/containers/foo/json", 404, `{"message":"No such container: foo"}`},
		{"GET", "/networks/foo", 404, `{"message":"No such network: foo"}`},
		{"GET", "/volumes/foo", 404, `{"message":"No such volume: foo"}`},
		{"GET", "/plugins/foo/json", 404, `{"message":"No such plugin: foo"}`},
		{"POST", "/containers/prune", 200, `{"ContainersDeleted":null,"SpaceReclaimed":0}`},
		{"POST", "/v1.50/networks/prune", 200, `{"NetworksDeleted":null}`},
		{"POST", "/volumes/prune", 200, `{"VolumesDeleted":null,"SpaceReclaimed":0}`},
		{"GET", "/containers/json", 200, `[]`},
		{"POST", "/containers/create", 501, "berth manages images only"},
		{"POST", "/containers/abc/start", 501, "berth manages images only"},
		{"POST", "/exec/abc/start", 501, "berth manages images only"},
		{"POST", "/networks/create", 501, "berth manages images only"},
		{"DELETE", "/volumes/foo", 501, "berth manages images only"},
		{"POST", "/swarm/init", 501, "berth manages images only"},
		{"GET", "/services", 501, "berth manages images only"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := do(t, tt.method, ts.URL+tt.path, nil)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tt.status, tt.body)
			}
			if resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestOversizedHeaders(t *testing.T) {
	ts, _ := newTestServer(t)
	req, _ := http.NewRequest("GET", ts.URL+"/_ping", nil)
	req.Header.Set("X-Registry-Auth", strings.Repeat("A", 2<<20))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// TestListFollowsTheIndex: the unfiltered list is answered from the last
// one only while the index is unchanged.
func TestListFollowsTheIndex(t *testing.T) {
	ts, root := newTestServer(t)
	ctx := context.Background()
	add := func(name string) {
		st, err := store.Open(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		cfgFile := image.NewConfigFile(image.Now())
		cfgFile.Config.Labels = map[string]string{"n": name}
		cfg, _ := image.MarshalConfig(cfgFile)
		man, _ := image.MarshalManifest(cfg.Descriptor, nil, nil)
		for _, b := range []image.Blob{cfg, man} {
			if err := st.WriteBlob(ctx, b.Descriptor.Digest, b.Descriptor.Size, bytes.NewReader(b.Bytes)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.AddImage(ctx, man.Descriptor, "docker.io/library/"+name+":latest"); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		_, body := do(t, "GET", ts.URL+"/images/json", nil)
		var list []map[string]any
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	for i, name := range []string{"a", "b", "c"} {
		add(name)
		if n := count(); n != i+1 {
			t.Fatalf("after adding %s: %d images listed, want %d", name, n, i+1)
		}
		if n := count(); n != i+1 { // the cached answer
			t.Fatalf("again: %d images", n)
		}
	}
	if _, body := do(t, "DELETE", ts.URL+"/images/b", nil); !strings.Contains(body, "Untagged") {
		t.Fatalf("delete: %s", body)
	}
	if n := count(); n != 2 {
		t.Errorf("after a delete: %d images listed, want 2", n)
	}
}
