package registry_test

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/testenv"
)

// TestGCCommandDuringPushes runs `berth registry gc --delay 0
// --delete-untagged` in a loop, as a separate process, while images are
// pushed to `berth registry serve`; then every pushed image is pulled whole.
func TestGCCommandDuringPushes(t *testing.T) {
	root := t.TempDir()
	srv := serve(t, root)
	bin := testenv.Berth(t)
	ctx, cancel := context.WithCancel(context.Background())
	gcDone := make(chan error, 1)
	runs := 0
	go func() {
		for ctx.Err() == nil {
			out, err := exec.Command(bin, "registry", "gc", "--root", root, "--delay", "0", "--delete-untagged").CombinedOutput()
			if err != nil {
				gcDone <- fmt.Errorf("gc: %v\n%s", err, out)
				return
			}
			if !strings.Contains(string(out), "Total reclaimed space") {
				gcDone <- fmt.Errorf("gc output: %s", out)
				return
			}
			runs++
		}
		gcDone <- nil
	}()
	base, _ := random.Image(32<<10, 2)
	baseLayers, _ := base.Layers()
	var refs []name.Reference
	for i := range 12 {
		img, _ := random.Image(16<<10, 1)
		// Every image shares the base layers, so collections keep meeting
		// blobs that pushes are about to reference.
		img, err := mutateAppend(img, baseLayers)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.ParseReference(fmt.Sprintf("%s/gc/app%d:v1", srv.addr, i%3))
		if i >= 3 {
			ref, _ = name.ParseReference(fmt.Sprintf("%s/gc/app%d:v%d", srv.addr, i%3, i))
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		refs = append(refs, ref)
	}
	cancel()
	if err := <-gcDone; err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		layers, _ := img.Layers()
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
			rc.Close()
		}
	}
	t.Logf("%d collections during %d pushes; every image pulls whole", runs, len(refs))
}

func mutateAppend(img v1.Image, layers []v1.Layer) (v1.Image, error) {
	return mutate.AppendLayers(img, layers...)
}
