package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// leftovers lists everything below ROOT/uploads: files, dot files and
// directories alike.
func leftovers(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(filepath.Join(root, "uploads"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != filepath.Join(root, "uploads") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestUploadsLeaveNothing: a finished, cancelled or failed upload session
// leaves nothing behind in the storage, not even the filesystem driver's own
// lock files or the session's directory.
func TestUploadsLeaveNothing(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	const pushes = 200
	for i := range pushes {
		data := []byte(fmt.Sprintf("blob %d", i))
		d := sha256Of(data)
		loc := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
		var r resp
		switch i % 5 {
		case 0: // monolithic PUT
			r = tr.do("PUT", loc+"?digest="+d, data)
		case 1: // one PATCH, empty PUT (the chunk becomes the blob by a move)
			tr.do("PATCH", loc, data)
			r = tr.do("PUT", loc+"?digest="+d, nil)
		case 2: // two PATCHes, PUT with the rest
			tr.do("PATCH", loc, data[:2])
			tr.do("PATCH", loc, data[2:4])
			r = tr.do("PUT", loc+"?digest="+d, data[4:])
		case 3: // cancelled
			tr.do("PATCH", loc, data)
			if r = tr.do("DELETE", loc, nil); r.code != 204 {
				t.Fatalf("cancel: %d %s", r.code, r.body)
			}
			continue
		case 4: // wrong digest: refused, session dropped
			tr.do("PATCH", loc, data)
			if r = tr.do("PUT", loc+"?digest="+sha256Of([]byte("other")), nil); r.code != 400 {
				t.Fatalf("wrong digest: %d %s", r.code, r.body)
			}
			continue
		}
		if r.code != 201 {
			t.Fatalf("push %d: %d %s", i, r.code, r.body)
		}
	}
	if left := leftovers(t, tr.drv.Root()); len(left) != 0 {
		t.Fatalf("%d pushes left %d entries under uploads/, e.g. %v", pushes, len(left), left[:min(5, len(left))])
	}
}

// TestGCSweepsUploadLeftovers: what an interrupted write or an older berth
// left under uploads/ (lock files, temp files: names List never shows) is
// removed by GC once it is older than the upload bound, with abandoned
// sessions and their directories; a live session and a temp file being
// written are kept.
func TestGCSweepsUploadLeftovers(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, Options{})
	root := tr.drv.Root()
	old := time.Now().Add(-48 * time.Hour)
	write := func(rel string, mtime time.Time) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
		os.Chtimes(filepath.Dir(p), mtime, mtime)
	}
	id := func(n int) string { return fmt.Sprintf("%032x", n) }
	// Leaked by older versions: a lock file alone in its session directory.
	for n := range 6 {
		write("uploads/"+id(n)+"/.state.json.lock", old)
	}
	// A PATCH killed mid-write, long ago, and one being written now.
	write("uploads/"+id(10)+"/.tmp-123", old)
	write("uploads/"+id(11)+"/.tmp-456", time.Now())
	// A blob Put killed mid-write.
	write("blobs/sha256/ab/.tmp-789", old)
	// An abandoned session and a live one.
	abandoned := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
	tr.do("PATCH", abandoned, []byte("abandoned"))
	aid := abandoned[len(abandoned)-32:]
	st, _, _ := tr.s.loadState(ctx, "r", aid)
	st.Started = old
	tr.s.putState(ctx, aid, st, storageCond())
	age(t, filepath.Join(root, "uploads", aid), 48*time.Hour)
	live := tr.do("POST", "/v2/r/blobs/uploads/", nil).h.Get("Location")
	tr.do("PATCH", live, []byte("live"))
	lid := live[len(live)-32:]

	dry, err := GC(ctx, tr.drv, GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(leftovers(t, root)); got != 6*2+2*2+4+4 {
		t.Fatalf("dry run changed the storage: %d entries", got)
	}
	res, err := GC(ctx, tr.drv, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != len(dry.Items) {
		t.Errorf("dry run listed %d items, the collection removed %d", len(dry.Items), len(res.Items))
	}
	var want []string
	for _, p := range []string{"uploads/" + id(11), "uploads/" + id(11) + "/.tmp-456", "uploads/" + lid} {
		want = append(want, filepath.FromSlash(p))
	}
	got := leftovers(t, root)
	var rest []string
	for _, p := range got {
		if !strings.HasPrefix(p, filepath.Join("uploads", lid)+"/") {
			rest = append(rest, p)
		}
	}
	if fmt.Sprint(rest) != fmt.Sprint(want) {
		t.Errorf("after GC, uploads/ holds %v, want %v and the live session", got, want)
	}
	if _, err := os.Stat(filepath.Join(root, "blobs/sha256/ab/.tmp-789")); err == nil {
		t.Error("GC kept a temp file of a blob write killed two days ago")
	}
	if r := tr.do("GET", live, nil); r.code != 204 || r.h.Get("Range") != "0-3" {
		t.Fatalf("live upload lost: %d %v", r.code, r.h)
	}
	if r := tr.do("GET", abandoned, nil); r.code != 404 {
		t.Fatalf("abandoned upload kept: %d", r.code)
	}
}
