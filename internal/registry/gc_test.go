package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// age moves the mtime of every stored file back by d, as if it were old.
func age(t *testing.T, root string, d time.Duration) {
	t.Helper()
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			os.Chtimes(p, fi.ModTime().Add(-d), fi.ModTime().Add(-d))
		}
		return nil
	})
}

func gcKinds(res GCResult) map[string]int {
	m := map[string]int{}
	for _, it := range res.Items {
		m[it.Kind]++
	}
	return m
}

func TestGC(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*testRegistry, string, string) {
		tr := newTestRegistry(t, Options{})
		tr.pushImage("app", "v1", []byte(`{"v":1}`), []byte("shared"), []byte("only-v1"))
		_, d2 := tr.pushImage("app", "v2", []byte(`{"v":2}`), []byte("shared"), []byte("only-v2"))
		orphan := tr.pushBlob("app", []byte("orphan"))
		tr.do("DELETE", "/v2/app/blobs/"+orphan, nil)
		tr.do("DELETE", "/v2/app/manifests/v2", nil) // v2 is now untagged
		return tr, d2, orphan
	}
	t.Run("young content is kept", func(t *testing.T) {
		tr, _, orphan := setup(t)
		res, err := GC(ctx, tr.drv, GCOptions{Delay: time.Hour, DeleteUntagged: true})
		if err != nil || len(res.Items) != 0 {
			t.Fatalf("%+v %v", res, err)
		}
		if _, err := tr.drv.Stat(ctx, blobKey(mustDigest(orphan))); err != nil {
			t.Fatal("young orphan deleted")
		}
	})
	t.Run("dry run deletes nothing", func(t *testing.T) {
		tr, _, orphan := setup(t)
		age(t, tr.drv.Root(), 2*time.Hour)
		res, err := GC(ctx, tr.drv, GCOptions{DryRun: true, Delay: time.Hour, DeleteUntagged: true})
		if err != nil || gcKinds(res)["blob"] == 0 {
			t.Fatalf("%+v %v", res, err)
		}
		if _, err := tr.drv.Stat(ctx, blobKey(mustDigest(orphan))); err != nil {
			t.Fatal("dry run deleted")
		}
	})
	t.Run("delay 0 without delete-untagged keeps the untagged image", func(t *testing.T) {
		tr, d2, orphan := setup(t)
		res, err := GC(ctx, tr.drv, GCOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if k := gcKinds(res); k["blob"] != 1 || k["manifest"] != 0 || res.Bytes != int64(len("orphan")) {
			t.Fatalf("%+v", res)
		}
		if _, err := tr.drv.Stat(ctx, blobKey(mustDigest(orphan))); err == nil {
			t.Fatal("orphan kept")
		}
		if r := tr.do("GET", "/v2/app/manifests/"+d2, nil); r.code != 200 {
			t.Fatalf("untagged manifest lost: %d", r.code)
		}
	})
	t.Run("delete-untagged collects the untagged image and its own layers", func(t *testing.T) {
		tr, d2, _ := setup(t)
		age(t, tr.drv.Root(), 2*time.Hour)
		ageManifests(t, tr, "app", 2*time.Hour)
		res, err := GC(ctx, tr.drv, GCOptions{DeleteUntagged: true, Delay: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		// v2's manifest, config and only-v2 layer, plus the orphan.
		if k := gcKinds(res); k["manifest"] != 1 || k["blob"] != 4 {
			t.Fatalf("%+v", res)
		}
		if r := tr.do("GET", "/v2/app/manifests/"+d2, nil); r.code != 404 {
			t.Fatalf("untagged manifest kept: %d", r.code)
		}
		checkPullable(t, tr, "app", "v1")
	})
	t.Run("stale uploads", func(t *testing.T) {
		tr := newTestRegistry(t, Options{})
		old := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		tr.do("PATCH", old, []byte("old chunk"))
		age(t, tr.drv.Root(), 48*time.Hour)
		// The state records its start time: rewrite it as old too.
		fresh := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		tr.do("PATCH", fresh, []byte("fresh chunk"))
		st, _, _ := tr.s.loadState(ctx, "r", old[len(old)-32:])
		st.Started = st.Started.Add(-48 * time.Hour)
		tr.s.putState(ctx, old[len(old)-32:], st, storageCond())
		age(t, filepath.Join(tr.drv.Root(), "uploads", old[len(old)-32:]), 48*time.Hour)
		res, err := GC(ctx, tr.drv, GCOptions{})
		if err != nil || gcKinds(res)["upload"] != 2 {
			t.Fatalf("%+v %v", res, err)
		}
		if r := tr.do("GET", old, nil); r.code != 404 {
			t.Fatalf("stale upload kept: %d", r.code)
		}
		if r := tr.do("GET", fresh, nil); r.code != 204 || r.h.Get("Range") != "0-10" {
			t.Fatalf("fresh upload lost: %d %v", r.code, r.h)
		}
	})
}

// ageManifests moves the push time of every manifest of repo back by d.
func ageManifests(t *testing.T, tr *testRegistry, repo string, d time.Duration) {
	t.Helper()
	_, err := tr.s.updateMeta(context.Background(), repo, func(m *repoMeta) error {
		for k, e := range m.Manifests {
			c := *e
			c.Pushed = c.Pushed.Add(-d)
			m.Manifests[k] = &c
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustDigest(s string) digest {
	d, _ := parseDigest(s)
	return d
}

// checkPullable fetches ref's manifest and every blob it references.
func checkPullable(t *testing.T, tr *testRegistry, repo, ref string) {
	t.Helper()
	r := tr.do("GET", "/v2/"+repo+"/manifests/"+ref, nil)
	if r.code != 200 {
		t.Fatalf("%s:%s manifest: %d", repo, ref, r.code)
	}
	m, err := checkManifest(r.body, r.h.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range m.blobs {
		if g := tr.do("GET", "/v2/"+repo+"/blobs/"+b.String(), nil); g.code != 200 || sha256Of(g.body) != b.String() {
			t.Fatalf("%s:%s blob %s: %d", repo, ref, b, g.code)
		}
	}
}

// TestGCDuringPushes runs collections with --delay 0 and --delete-untagged
// in a loop while images that share a layer are pushed, and the shared
// layer is repeatedly orphaned in another repository; every pushed image
// must stay complete.
func TestGCDuringPushes(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var gcRuns int
	var gcErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, err := GC(ctx, tr.drv, GCOptions{DeleteUntagged: true}); err != nil && ctx.Err() == nil {
				gcErr = err
				return
			}
			gcRuns++
		}
	}()
	shared := []byte("shared layer for the race")
	n := 25
	for i := range n {
		// Orphan the shared layer elsewhere so that it is a GC candidate.
		d := tr.pushBlob("scratch", shared)
		tr.do("DELETE", "/v2/scratch/blobs/"+d, nil)
		tr.pushImage("img", fmt.Sprintf("t%d", i), []byte(fmt.Sprintf(`{"i":%d}`, i)), shared, []byte(fmt.Sprintf("own %d", i)))
	}
	cancel()
	wg.Wait()
	if gcErr != nil {
		t.Fatal(gcErr)
	}
	for i := range n {
		checkPullable(t, tr, "img", fmt.Sprintf("t%d", i))
	}
	t.Logf("%d collections ran during %d pushes", gcRuns, n)
}
