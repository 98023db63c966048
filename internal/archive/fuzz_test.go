package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/store/storetest"
	"github.com/berth-dev/berth/internal/testenv"
)

// FuzzLoad feeds arbitrary bytes to the archive reader. Whatever the input,
// Load must not panic, and a failed load must leave the store as it was; a
// successful one must leave every image it reports complete in the store.
func FuzzLoad(f *testing.F) {
	img := testenv.Image(f, "linux/amd64", testenv.Layer(f, "fz-1"), testenv.GzipLayer(f, "fz-2"))
	src := newStore(f)
	storetest.Add(f, src, img, "docker.io/library/fuzz:1")
	docker := save(f, src, archive.FormatDocker, archive.Entry{Image: img, Names: []string{"docker.io/library/fuzz:1"}})
	oci := save(f, src, archive.FormatOCI, archive.Entry{Image: img})
	f.Add(docker)
	f.Add(oci)
	f.Add(oldArchive(f, img, []string{"fuzz:old"}, oldOpts{}))
	f.Add(oldArchive(f, img, nil, oldOpts{gzipLayers: true, hardlinks: true, metadataFirst: true}))
	f.Add(testenv.Gzip(f, docker))
	v1Archive, _ := testenv.DockerV1Archive(f, "fuzz", "v1", "fz-v1a", "fz-v1b")
	f.Add(v1Archive)
	f.Add(testenv.Docker25Archive(f, testenv.Docker25Image{Image: img}))
	// v1 layers that are each other's parent.
	f.Add(makeTar(f, tarEntry{name: "a/json", body: []byte(`{"parent":"b"}`)}, tarEntry{name: "a/layer.tar", body: makeTar(f)},
		tarEntry{name: "b/json", body: []byte(`{"parent":"a"}`)}, tarEntry{name: "b/layer.tar", body: makeTar(f)},
		tarEntry{name: "repositories", body: []byte(`{"x":{"y":"a"}}`)}))
	f.Add(makeTar(f, tarEntry{name: "a", typ: tar.TypeSymlink, linkname: "b"}, tarEntry{name: "b", typ: tar.TypeSymlink, linkname: "a"},
		tarEntry{name: "manifest.json", body: []byte(`[{"Config":"a","Layers":["b"]}]`)}))
	f.Add(makeTar(f, tarEntry{name: "index.json", body: []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2}]}`)}))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0})
	f.Add([]byte("BZh91AY&SY"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := newStore(t)
		before := state(t, st)
		// Odd lengths go through the streaming reader, even ones through the
		// seekable one, so both are fuzzed.
		var r io.Reader = bytes.NewReader(data)
		if len(data)%2 == 1 {
			r = struct{ io.Reader }{r}
		}
		loaded, err := archive.Load(context.Background(), r, sinkOf(st), archive.LoadOptions{})
		if err != nil {
			if after := collected(t, st); after != before {
				t.Fatalf("failed load (%v) changed the store:\n%s\n---\n%s", err, before, after)
			}
			return
		}
		for _, l := range loaded {
			if _, err := st.AddImage(context.Background(), l.Descriptor, l.Names...); err != nil {
				t.Fatalf("load reported %s but the store cannot record it: %v", l.Descriptor.Digest, err)
			}
		}
	})
}
