package archive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// readModes are the three ways berth reads an archive: a file (index
// first), a plain stream and a gzip stream (blobs before the metadata
// that names them).
var readModes = []string{"file", "pipe", "gzip"}

func loadAs(t *testing.T, mode string, data []byte) []archive.Loaded {
	t.Helper()
	st := newStore(t)
	ctx := context.Background()
	var loaded []archive.Loaded
	var err error
	switch mode {
	case "file":
		p := filepath.Join(t.TempDir(), "a.tar")
		must(t, os.WriteFile(p, data, 0o644))
		f, ferr := os.Open(p)
		must(t, ferr)
		defer f.Close()
		loaded, err = archive.Load(ctx, f, sinkOf(st), archive.LoadOptions{})
	case "pipe":
		loaded, err = archive.Load(ctx, io.MultiReader(bytes.NewReader(data)), sinkOf(st), archive.LoadOptions{})
	case "gzip":
		loaded, err = archive.Load(ctx, bytes.NewReader(testenv.Gzip(t, data)), sinkOf(st), archive.LoadOptions{})
	}
	must(t, err)
	for _, l := range loaded {
		rec, err := st.AddImage(ctx, l.Descriptor, l.Names...)
		must(t, err)
		// Every image loaded is whole: its layers are in the store.
		m, err := st.Manifest(rec.Digest)
		must(t, err)
		for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			if !st.HasBlob(d.Digest) {
				t.Errorf("image %s lacks blob %s", rec.Digest, d.Digest)
			}
		}
	}
	return loaded
}

// configDigest is an image's ID: its config digest.
func configDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	must(t, err)
	return h
}

// TestLoadDocker25SavedByID: Docker 25–27 leave images saved by ID out of
// index.json; they load untagged, beside the tagged ones of the same save.
func TestLoadDocker25SavedByID(t *testing.T) {
	a := testenv.Image(t, "linux/amd64", testenv.Layer(t, "d25-a0"), testenv.Layer(t, "d25-a1"))
	b := testenv.Image(t, "linux/amd64", testenv.Layer(t, "d25-b0"))
	for _, tc := range []struct {
		name string
		imgs []testenv.Docker25Image
		want map[v1.Hash][]string // config → names
	}{
		{"by-id", []testenv.Docker25Image{{Image: a}}, map[v1.Hash][]string{configDigest(t, a): nil}},
		{"two-by-id", []testenv.Docker25Image{{Image: a}, {Image: b}}, map[v1.Hash][]string{configDigest(t, a): nil, configDigest(t, b): nil}},
		{"tag-and-id", []testenv.Docker25Image{{Image: a, Tags: []string{"d25:latest"}}, {Image: b}},
			map[v1.Hash][]string{configDigest(t, a): {"docker.io/library/d25:latest"}, configDigest(t, b): nil}},
	} {
		data := testenv.Docker25Archive(t, tc.imgs...)
		if tc.name == "by-id" && !strings.Contains(string(tarFile(t, data, "index.json")), `"manifests":null`) {
			t.Fatalf("fixture is not Docker's: %s", tarFile(t, data, "index.json"))
		}
		for _, mode := range readModes {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				loaded := loadAs(t, mode, data)
				got := map[v1.Hash][]string{}
				for _, l := range loaded {
					cfg := manifestConfig(t, data, l)
					got[cfg] = l.Names
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("loaded %v, want %v", got, tc.want)
				}
			})
		}
	}
}

// manifestConfig finds the config of a loaded image by loading again into
// a store it can read.
func manifestConfig(t *testing.T, data []byte, l archive.Loaded) v1.Hash {
	t.Helper()
	st := newStore(t)
	loaded, err := load(t, st, data)
	must(t, err)
	for _, x := range loaded {
		if x.Descriptor.Digest == l.Descriptor.Digest {
			m, err := st.Manifest(x.Descriptor.Digest)
			must(t, err)
			return m.Config.Digest
		}
	}
	t.Fatalf("a second load did not give %s", l.Descriptor.Digest)
	return v1.Hash{}
}

// TestLoadDockerV1: the pre-1.10 format, layer directories and a
// repositories file, loads as Docker's loader makes it: the json of the
// top layer as the config, v1-only keys dropped, rootfs and history from
// the layer chain.
func TestLoadDockerV1(t *testing.T) {
	data, top := testenv.DockerV1Archive(t, "legacy", "v1", "v1-base", "v1-mid", "v1-top")
	for _, mode := range readModes {
		t.Run(mode, func(t *testing.T) {
			loaded := loadAs(t, mode, data)
			if len(loaded) != 1 || fmt.Sprint(loaded[0].Names) != "[docker.io/library/legacy:v1]" {
				t.Fatalf("loaded %+v, want one image named legacy:v1", loaded)
			}
		})
	}
	st := newStore(t)
	_, err := load(t, st, data)
	must(t, err)
	rec, err := st.Lookup(context.Background(), "legacy:v1")
	must(t, err)
	raw, err := st.ReadBlob(rec.ID)
	must(t, err)
	var cfg map[string]json.RawMessage
	must(t, json.Unmarshal(raw, &cfg))
	for _, k := range []string{"id", "parent", "Size"} {
		if _, ok := cfg[k]; ok {
			t.Errorf("config keeps the v1 key %q", k)
		}
	}
	var parsed v1.ConfigFile
	must(t, json.Unmarshal(raw, &parsed))
	var want []string
	for _, s := range []string{"v1-base", "v1-mid", "v1-top"} {
		sum := sha256.Sum256(testenv.LayerTar(t, s))
		want = append(want, "sha256:"+hex.EncodeToString(sum[:]))
	}
	if fmt.Sprint(parsed.RootFS.DiffIDs) != "["+strings.Join(want, " ")+"]" || len(parsed.History) != 3 {
		t.Errorf("rootfs %v history %d, want %v and 3", parsed.RootFS.DiffIDs, len(parsed.History), want)
	}
	if h := parsed.History[2].CreatedBy; h != "/bin/sh -c echo v1-top > /v1-top/built && true" {
		t.Errorf("history created_by %q", h)
	}
	if _, ok := cfg["container_config"]; !ok || top == "" {
		t.Error("config lost container_config")
	}

	// Untagged, the top layer is still an image; a repositories file
	// naming a layer the archive lacks is refused.
	untagged, _ := testenv.DockerV1Archive(t, "", "", "v1-base", "v1-top")
	if l := loadAs(t, "file", untagged); len(l) != 1 || len(l[0].Names) != 0 {
		t.Errorf("untagged v1 archive loaded %+v", l)
	}
	bad := bytes.Replace(data, []byte(`{"legacy":{"v1":"`+top), []byte(`{"legacy":{"v1":"`+strings.Repeat("0", 64)), 1)
	if _, err := load(t, newStore(t), bad); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Errorf("repositories naming a missing layer: %v", err)
	}
}
