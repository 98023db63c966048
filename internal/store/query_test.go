package store_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/storetest"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testImage is an image of the given layers, creation time and labels,
// with one history step per layer plus an empty one on top.
func testImage(t *testing.T, layers []v1.Layer, created time.Time, labels map[string]string) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config.Labels = labels
	cf.History = nil
	for i := range layers {
		cf.History = append(cf.History, v1.History{Created: v1.Time{Time: created}, CreatedBy: "layer " + string(rune('a'+i))})
	}
	cf.History = append(cf.History, v1.History{Created: v1.Time{Time: created}, CreatedBy: "CMD [\"sh\"]", EmptyLayer: true})
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func layer(t *testing.T, size int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(size, types.OCIUncompressedLayer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type fixture struct {
	st                    *store.Store
	base, app, old, other store.Image
	shared                v1.Layer
	layers                map[string]v1.Layer // each image's own layer
}

// newFixture makes a store with four images: base (labelled kind=base),
// app and other sharing base's layer, and old, left dangling when app:1 moved
// away from it.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	day := func(n int) time.Time { return time.Date(2024, 1, n, 0, 0, 0, 0, time.UTC) }
	f := &fixture{st: st, shared: layer(t, 1000)}
	f.layers = map[string]v1.Layer{"old": layer(t, 500), "app": layer(t, 300), "other": layer(t, 200)}
	f.base = storetest.Add(t, st, testImage(t, []v1.Layer{f.shared}, day(1), map[string]string{"kind": "base"}),
		"busybox:latest", "docker.io/library/busybox@sha256:"+strings.Repeat("a", 64))
	f.old = storetest.Add(t, st, testImage(t, []v1.Layer{f.layers["old"]}, day(2), nil), "app:1")
	f.app = storetest.Add(t, st, testImage(t, []v1.Layer{f.shared, f.layers["app"]}, day(3), map[string]string{"kind": "app"}), "app:1")
	f.other = storetest.Add(t, st, testImage(t, []v1.Layer{f.shared, f.layers["other"]}, day(4), nil), "localhost:5000/other:2")
	// A fresh handle, as the next berth command has: the writer's lease
	// keeps what it wrote from collection while it lives.
	st.Close()
	if f.st, err = store.Open(context.Background(), st.Root()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	return f
}

func size(t *testing.T, l v1.Layer) int64 {
	t.Helper()
	n, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ids(sums []store.Summary) []v1.Hash {
	var out []v1.Hash
	for _, s := range sums {
		out = append(out, s.Digest)
	}
	return out
}

func TestListFilters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC)
	all := []v1.Hash{f.other.Digest, f.app.Digest, f.old.Digest, f.base.Digest}
	tests := []struct {
		name    string
		filters store.Filters
		want    []v1.Hash
		wantErr string
	}{
		{"none, newest first", nil, all, ""},
		{"dangling", store.Filters{{"dangling", "true"}}, []v1.Hash{f.old.Digest}, ""},
		{"not dangling", store.Filters{{"dangling", "false"}}, []v1.Hash{f.other.Digest, f.app.Digest, f.base.Digest}, ""},
		{"label key", store.Filters{{"label", "kind"}}, []v1.Hash{f.app.Digest, f.base.Digest}, ""},
		{"label key=value", store.Filters{{"label", "kind=base"}}, []v1.Hash{f.base.Digest}, ""},
		{"label!", store.Filters{{"label!", "kind"}}, []v1.Hash{f.other.Digest, f.old.Digest}, ""},
		{"label key!=value", store.Filters{{"label", "kind!=base"}}, []v1.Hash{f.other.Digest, f.app.Digest, f.old.Digest}, ""},
		{"two filters", store.Filters{{"label", "kind"}, {"reference", "app"}}, []v1.Hash{f.app.Digest}, ""},
		{"reference glob", store.Filters{{"reference", "*/other"}}, []v1.Hash{f.other.Digest}, ""},
		{"reference with tag", store.Filters{{"reference", "busybox:latest"}}, []v1.Hash{f.base.Digest}, ""},
		{"before", store.Filters{{"before", "app:1"}}, []v1.Hash{f.old.Digest, f.base.Digest}, ""},
		{"since", store.Filters{{"since", "app:1"}}, []v1.Hash{f.other.Digest}, ""},
		{"until duration", store.Filters{{"until", "60h"}}, []v1.Hash{f.old.Digest, f.base.Digest}, ""},
		{"until date", store.Filters{{"until", "2024-01-02"}}, []v1.Hash{f.base.Digest}, ""},
		{"key case and spaces", store.Filters{{" Dangling ", "1"}}, []v1.Hash{f.old.Digest}, ""},
		{"unknown key", store.Filters{{"color", "red"}}, nil, "invalid filter 'color'"},
		{"bad dangling", store.Filters{{"dangling", "maybe"}}, nil, "invalid filter 'dangling=maybe'"},
		{"bad until", store.Filters{{"until", "soon"}}, nil, "invalid time filter"},
		{"before unknown image", store.Filters{{"before", "nope"}}, nil, "no such image: nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.st.List(ctx, store.ListOptions{Filters: tt.filters, Now: now})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), tt.want) {
				t.Fatalf("got %v\nwant %v", ids(got), tt.want)
			}
		})
	}
}

func TestListSummary(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	got, err := f.st.List(ctx, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := got[3]
	if base.ID != f.base.ID || base.Containers != 0 || base.ParentID != "" || base.Labels["kind"] != "base" || base.Size != size(t, f.shared) {
		t.Fatalf("summary: %+v", base)
	}
	if !reflect.DeepEqual(base.RepoTags, []string{"busybox:latest"}) || !reflect.DeepEqual(base.RepoDigests, []string{"busybox@sha256:" + strings.Repeat("a", 64)}) {
		t.Fatalf("tags %v digests %v", base.RepoTags, base.RepoDigests)
	}
	if old := got[2]; old.RepoTags == nil || len(old.RepoTags) != 0 {
		t.Fatalf("a dangling image's RepoTags = %#v, want an empty list", old.RepoTags)
	}
	// The daemon narrows the names to those the reference filter matches.
	got, err = f.st.List(ctx, store.ListOptions{Filters: store.Filters{{"reference", "busybox:*"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0].RepoTags, []string{"busybox:latest"}) || len(got[0].RepoDigests) != 0 {
		t.Fatalf("narrowed: %+v", got)
	}
}

func TestInspectAndHistory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d, err := f.st.Inspect(ctx, "app:1", store.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.ConfigName != f.app.ID || d.Size != 1000+300 /* the files' bytes (random.Layer's one file), as Docker counts */ || d.Config.Config.Labels["kind"] != "app" || len(d.Manifest.Layers) != 2 || !reflect.DeepEqual(d.RepoTags, []string{"app:1"}) {
		t.Fatalf("details: %+v", d)
	}
	if _, err := f.st.Inspect(ctx, "nope", store.InspectOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("inspect nope: %v", err)
	}
	h, err := f.st.History(ctx, "app:1", store.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.HistoryEntry{
		{ID: f.app.ID.String(), Tags: []string{"app:1"}, CreatedBy: `CMD ["sh"]`, EmptyLayer: true},
		{ID: "<missing>", CreatedBy: "layer b", Size: 300},
		{ID: "<missing>", CreatedBy: "layer a", Size: 1000},
	}
	for i := range h {
		h[i].Created = time.Time{}
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("history:\n%+v\nwant\n%+v", h, want)
	}
}

func TestTagImage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.st.TagImage(ctx, f.base.ID.Hex[:12], "mine/bb"); err != nil {
		t.Fatal(err)
	}
	img, err := f.st.Lookup(ctx, "mine/bb:latest")
	if err != nil || img.Digest != f.base.Digest {
		t.Fatalf("lookup of the new tag: %v %v", img.Digest, err)
	}
	for _, tt := range []struct{ source, target, wantErr string }{
		{"busybox", "Bad:Name", "invalid reference format"},
		{"nope", "x:1", "no such image: nope"},
	} {
		if err := f.st.TagImage(ctx, tt.source, tt.target); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("tag %s %s: %v, want %q", tt.source, tt.target, err, tt.wantErr)
		}
	}
}

func TestRemoveImages(t *testing.T) {
	ctx := context.Background()
	t.Run("untag, delete, fail, collect", func(t *testing.T) {
		f := newFixture(t)
		if err := f.st.TagImage(ctx, "app:1", "app:2"); err != nil {
			t.Fatal(err)
		}
		res, err := f.st.RemoveImages(ctx, []string{"app:2", "nope", "localhost:5000/other:2"}, store.RemoveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 3 || res[0].Err != nil || !reflect.DeepEqual(res[0].Events, []store.Event{{Untagged: "app:2"}}) {
			t.Fatalf("app:2: %+v", res)
		}
		if !errors.Is(res[1].Err, store.ErrNotFound) {
			t.Fatalf("nope: %v", res[1].Err)
		}
		if !reflect.DeepEqual(res[2].Events, []store.Event{{Untagged: "localhost:5000/other:2"}, {Deleted: f.other.ID}}) {
			t.Fatalf("other: %+v", res[2].Events)
		}
		if f.st.HasBlob(f.other.Digest) {
			t.Fatal("the deleted image's manifest was not collected")
		}
		if h, _ := f.shared.Digest(); !f.st.HasBlob(h) {
			t.Fatal("a layer other images use was collected")
		}
	})
	t.Run("no-prune keeps blobs", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.st.RemoveImages(ctx, []string{"localhost:5000/other:2"}, store.RemoveOptions{NoPrune: true}); err != nil {
			t.Fatal(err)
		}
		if !f.st.HasBlob(f.other.Digest) {
			t.Fatal("--no-prune collected the manifest")
		}
	})
	t.Run("several repositories need force", func(t *testing.T) {
		f := newFixture(t)
		if err := f.st.TagImage(ctx, "app:1", "elsewhere/app:1"); err != nil {
			t.Fatal(err)
		}
		res, _ := f.st.RemoveImages(ctx, []string{f.app.ID.Hex[:12]}, store.RemoveOptions{})
		if !errors.Is(res[0].Err, store.ErrConflict) {
			t.Fatalf("without force: %v", res[0].Err)
		}
		res, _ = f.st.RemoveImages(ctx, []string{f.app.ID.Hex[:12]}, store.RemoveOptions{Force: true})
		if res[0].Err != nil || res[0].Events[len(res[0].Events)-1] != (store.Event{Deleted: f.app.ID}) {
			t.Fatalf("with force: %+v", res[0])
		}
	})
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		opts    store.PruneOptions
		removed func(f *fixture) []store.Image
		wantErr string
	}{
		{"dangling", store.PruneOptions{}, func(f *fixture) []store.Image { return []store.Image{f.old} }, ""},
		{"all by label", store.PruneOptions{All: true, Filters: store.Filters{{"label", "kind=app"}}}, func(f *fixture) []store.Image { return []store.Image{f.app} }, ""},
		{"all without label", store.PruneOptions{All: true, Filters: store.Filters{{"label!", "kind"}}}, func(f *fixture) []store.Image { return []store.Image{f.other, f.old} }, ""},
		{"until", store.PruneOptions{All: true, Filters: store.Filters{{"until", "2024-01-02T12:00:00Z"}}}, func(f *fixture) []store.Image { return []store.Image{f.old, f.base} }, ""},
		{"no reference filter", store.PruneOptions{Filters: store.Filters{{"reference", "x"}}}, nil, "invalid filter 'reference'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rep, err := f.st.Prune(ctx, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var deleted []v1.Hash
			for _, e := range rep.Events {
				if e.Untagged == "" {
					deleted = append(deleted, e.Deleted)
				}
			}
			var want []v1.Hash
			for _, img := range tt.removed(f) {
				want = append(want, img.ID)
				if _, err := f.st.Lookup(ctx, img.Digest.String()); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s still in the store", img.Digest)
				}
			}
			if !reflect.DeepEqual(deleted, want) || rep.Reclaimed <= 0 {
				t.Fatalf("deleted %v, want %v; reclaimed %d", deleted, want, rep.Reclaimed)
			}
		})
	}
}

func TestDiskUsage(t *testing.T) {
	f := newFixture(t)
	u, err := f.st.DiskUsage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The files' bytes, as Docker counts them: random.Layer's one file.
	sh, o, a, b := int64(1000), int64(500), int64(300), int64(200)
	if u.LayersSize != sh+o+a+b {
		t.Fatalf("layers size %d", u.LayersSize)
	}
	type sizes struct{ size, shared int64 }
	want := map[v1.Hash]sizes{f.other.Digest: {sh + b, sh}, f.app.Digest: {sh + a, sh}, f.old.Digest: {o, 0}, f.base.Digest: {sh, sh}}
	for _, iu := range u.Images {
		if got := (sizes{iu.Size, iu.SharedSize}); got != want[iu.Digest] {
			t.Errorf("%s: %+v, want %+v", iu.Digest, got, want[iu.Digest])
		}
	}
	if len(u.Images) != 4 {
		t.Fatalf("%d images", len(u.Images))
	}
}
