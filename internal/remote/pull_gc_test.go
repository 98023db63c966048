package remote

import (
	"context"
	"io"
	"testing"

	"github.com/berth-dev/berth/internal/remote/remotetest"
	"github.com/berth-dev/berth/internal/store"
)

// gcOnSkip runs a garbage collection of the store at root, as another berth
// process would, right when the pull decides it already has a layer.
type gcOnSkip struct {
	t    *testing.T
	root string
}

func (g gcOnSkip) Status(_, status string) {
	if status != "Already exists" {
		return
	}
	other, err := store.Open(context.Background(), g.root)
	if err != nil {
		g.t.Error(err)
		return
	}
	defer other.Close()
	if _, err := other.GC(context.Background()); err != nil {
		g.t.Error(err)
	}
}

func (gcOnSkip) Bytes(string, int64, int64) {}

// TestPullKeepsLayersItSkips: a layer the store already holds (unreferenced:
// left by a failed load, or an image just removed) is not downloaded, and a
// prune in another process between that decision and the pull's end must
// not take it away.
func TestPullKeepsLayersItSkips(t *testing.T) {
	ctx := context.Background()
	reg := remotetest.Start(t, remotetest.Options{})
	e := newEnv(t, Settings{})
	img := randomImage(t, 64<<10, 2)
	if _, err := e.c.Push(ctx, mustRef(t, reg.Host+"/gc/img:v1"), img, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	layer := digestOf(t, ls[0].Digest)
	// Another process stored the layer and ended without referencing it.
	prev, err := store.Open(ctx, e.st.Root())
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := ls[0].Compressed()
	if err := prev.WriteBlob(ctx, layer, -1, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	prev.Close()

	res, err := e.c.Pull(ctx, mustRef(t, reg.Host+"/gc/img:v1"), e.st, PullOptions{Progress: gcOnSkip{t, e.st.Root()}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fetched != 2 { // the config and the other layer
		t.Fatalf("fetched %d blobs, want 2 (the layer in the store is reused)", res.Fetched)
	}
	for _, l := range res.Layers {
		f, err := e.st.OpenBlob(l.Digest)
		if err != nil {
			t.Fatalf("layer %s of the pulled image: %v", l.Digest, err)
		}
		io.Copy(io.Discard, f)
		f.Close()
	}
}
