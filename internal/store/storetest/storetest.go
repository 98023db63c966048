// Package storetest puts test images into a berth store the way a pull or
// load leaves them: every blob written, then one reference record. It is
// imported by tests only.
package storetest

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// Add writes x (a v1.Image or v1.ImageIndex) into st under names and
// returns its record.
func Add(t testing.TB, st *store.Store, x partial.Describable, names ...string) store.Image {
	t.Helper()
	ctx := context.Background()
	var err error
	switch v := x.(type) {
	case v1.ImageIndex:
		err = st.WriteIndex(ctx, v)
	case v1.Image:
		err = st.WriteImage(ctx, v)
	}
	if err != nil {
		t.Fatalf("writing the image's blobs: %v", err)
	}
	d, err := partial.Descriptor(x)
	if err != nil {
		t.Fatal(err)
	}
	img, err := st.AddImage(ctx, v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest}, names...)
	if err != nil {
		t.Fatalf("naming the image %v: %v", names, err)
	}
	return img
}
