package remote

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Docker Hub names are served by the configured mirror; a dead mirror
// listed first is skipped.
func TestMirror(t *testing.T) {
	mirror := remotetest.Start(t, remotetest.Options{})
	ctx := context.Background()
	img := randomImage(t, 16<<10, 2)
	seed := newEnv(t, Settings{})
	if _, err := seed.c.Push(ctx, mustRef(t, mirror.Host+"/library/nginx:latest"), img, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Settings{RegistryMirrors: []string{"http://127.0.0.1:1", "http://" + mirror.Host + "/"}})
	res, err := e.c.Pull(ctx, mustRef(t, "nginx"), e.st, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Registry != mirror.Host || res.Desc.Digest != digestOf(t, img.Digest) {
		t.Fatalf("pulled %s from %s", res.Desc.Digest, res.Registry)
	}
}

// A multi-platform index: the requested platform is pulled, the index is
// kept as pulled, and a platform the index lacks is named in the error.
func TestPlatformIndex(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	ctx := context.Background()
	amd := randomImage(t, 8<<10, 1)
	arm := randomImage(t, 8<<10, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	e := newEnv(t, Settings{})
	if _, err := e.c.Push(ctx, mustRef(t, reg.Host+"/multi/img:v1"), idx, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := e.c.Pull(ctx, mustRef(t, reg.Host+"/multi/img:v1"), e.st, PullOptions{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest != digestOf(t, idx.Digest) || res.Image.Digest != digestOf(t, arm.Digest) {
		t.Fatalf("pulled index %s image %s", res.Desc.Digest, res.Image.Digest)
	}
	if !e.st.HasBlob(res.Desc.Digest) || e.st.HasBlob(digestOf(t, amd.ConfigName)) {
		t.Fatal("store should hold the index and only the arm64 image")
	}
	if _, err := e.st.AddImage(ctx, res.Desc, reg.Host+"/multi/img:v1"); err != nil {
		t.Fatalf("recording the sparse index: %v", err)
	}
	_, err = e.c.Pull(ctx, mustRef(t, reg.Host+"/multi/img:v1"), e.st, PullOptions{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}})
	if err == nil || !strings.Contains(err.Error(), "no matching manifest for linux/s390x") {
		t.Fatalf("err = %v", err)
	}
}

// Hub search speaks Hub's documented API (GET /v1/search?q=&n=) and
// applies Docker's filters.
func TestSearchHub(t *testing.T) {
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/search" {
			http.NotFound(w, r)
			return
		}
		gotQuery = r.URL.RawQuery
		json.NewEncoder(w).Encode(map[string]any{
			"num_results": 3, "query": r.URL.Query().Get("q"),
			"results": []SearchResult{
				{Name: "nginx", Description: "Official build of Nginx.", StarCount: 20000, IsOfficial: true},
				{Name: "bitnami/nginx", Description: "Bitnami nginx", StarCount: 190, IsAutomated: true},
				{Name: "someone/nginx-toy", Description: "toy", StarCount: 2},
			},
		})
	}))
	defer srv.Close()
	t.Setenv(hubURLEnv, srv.URL)
	e := newEnv(t, Settings{})
	yes := true
	tests := []struct {
		name   string
		filter SearchFilter
		want   []string
	}{
		{"all", SearchFilter{}, []string{"nginx", "bitnami/nginx", "someone/nginx-toy"}},
		{"stars", SearchFilter{Stars: 100}, []string{"nginx", "bitnami/nginx"}},
		{"official", SearchFilter{Official: &yes}, []string{"nginx"}},
		{"automated", SearchFilter{Automated: &yes}, []string{"bitnami/nginx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := e.c.SearchHub(context.Background(), "nginx", 10, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range rows {
				names = append(names, r.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", names, tt.want)
			}
			if gotQuery != "n=10&q=nginx" {
				t.Fatalf("query %q", gotQuery)
			}
		})
	}
}

// HOST/TERM searches a private registry's catalog.
func TestSearchCatalog(t *testing.T) {
	reg := remotetest.Start(t, remotetest.Options{})
	ctx := context.Background()
	e := newEnv(t, Settings{})
	img := randomImage(t, 4<<10, 1)
	for _, r := range []string{"apps/web", "apps/webhook", "tools/db"} {
		if _, err := e.c.Push(ctx, mustRef(t, reg.Host+"/"+r+":v1"), img, PushOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := e.c.SearchCatalog(ctx, reg.Host, "web", 25, SearchFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Name != reg.Host+"/apps/web" || rows[1].Name != reg.Host+"/apps/webhook" {
		t.Fatalf("rows = %+v", rows)
	}
}
