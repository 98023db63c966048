package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func TestWriteBlobVerifies(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte("hello blob")
	tests := []struct {
		name    string
		digest  v1.Hash
		size    int64
		wantErr string
	}{
		{"good", sha(data), int64(len(data)), ""},
		{"unknown size", sha(data), -1, ""},
		{"wrong digest", sha([]byte("other")), int64(len(data)), "digest mismatch"},
		{"wrong size", sha([]byte("hello blob!")), int64(len(data)) + 1, "size"},
		{"bad algorithm", v1.Hash{Algorithm: "md5", Hex: "00"}, -1, "invalid digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.WriteBlob(ctx, tt.digest, tt.size, bytes.NewReader(data))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !s.HasBlob(tt.digest) {
					t.Fatal("blob not stored")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.digest.Algorithm == "sha256" && tt.digest != sha(data) && s.HasBlob(tt.digest) {
				t.Fatal("a refused blob was kept")
			}
		})
	}
	left, _ := os.ReadDir(filepath.Join(s.Root(), "tmp"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

// addImage stores a tiny image with the given config bytes and names it.
func addImage(t *testing.T, s *Store, cfg string, names ...string) Image {
	t.Helper()
	ctx := context.Background()
	layer := []byte("layer-" + cfg)
	c := []byte(`{"architecture":"amd64","os":"linux","created":"2024-01-0` + cfg[len(cfg)-1:] + `T00:00:00Z","config":{},"rootfs":{"type":"layers","diff_ids":["` + sha(layer).String() + `"]}}`)
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":` +
		itoa(len(c)) + `,"digest":"` + sha(c).String() + `"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","size":` + itoa(len(layer)) + `,"digest":"` + sha(layer).String() + `"}]}`)
	for _, b := range [][]byte{layer, c, m} {
		if err := s.WriteBlob(ctx, sha(b), int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	img, err := s.AddImage(ctx, v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(m)), Digest: sha(m)}, names...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestLookupAndRemove(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := addImage(t, s, "a1", "busybox:latest", "docker.io/library/busybox@sha256:"+strings.Repeat("a", 64))
	b := addImage(t, s, "b2", "localhost:5000/app:1", "other/app:2")

	lookups := []struct {
		query   string
		want    v1.Hash
		wantErr error
	}{
		{"busybox", a.Digest, nil},
		{"busybox:latest", a.Digest, nil},
		{"docker.io/library/busybox:latest", a.Digest, nil},
		{a.ID.String(), a.Digest, nil},
		{a.ID.Hex[:12], a.Digest, nil},
		{a.Digest.String(), a.Digest, nil},
		{"localhost:5000/app:1", b.Digest, nil},
		{"nope", v1.Hash{}, ErrNotFound},
		{"busybox:nope", v1.Hash{}, ErrNotFound},
	}
	for _, tt := range lookups {
		t.Run("lookup "+tt.query, func(t *testing.T) {
			img, err := s.Lookup(ctx, tt.query)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || img.Digest != tt.want {
				t.Fatalf("Lookup(%q) = %v, %v", tt.query, img.Digest, err)
			}
		})
	}

	// Removing by ID an image named in two repositories needs force.
	if _, err := s.Remove(ctx, b.ID.Hex[:12], false); !errors.Is(err, ErrConflict) {
		t.Fatalf("rmi of a multi-repository image without force: %v", err)
	}
	ev, err := s.Remove(ctx, "other/app:2", false)
	if err != nil || len(ev) != 1 || ev[0].Untagged != "other/app:2" {
		t.Fatalf("untag: %v %v", ev, err)
	}
	// The last tag of busybox takes its digest reference along and deletes.
	ev, err = s.Remove(ctx, "busybox", false)
	if err != nil || len(ev) != 3 || ev[2].Deleted != a.ID {
		t.Fatalf("rmi busybox: %+v %v", ev, err)
	}
	// This handle's lease still protects what it wrote; a fresh handle (the
	// next berth command) does not.
	s.Close()
	s, _ = Open(ctx, s.Root())
	res, err := s.GC(ctx)
	if err != nil || res.Blobs != 3 {
		t.Fatalf("GC after rmi: %+v %v", res, err)
	}
	if _, problems, _ := s.Check(ctx); len(problems) != 0 {
		t.Fatalf("check: %v", problems)
	}
	// A tag moved to another image leaves the first one dangling.
	c := addImage(t, s, "c3", "localhost:5000/app:1")
	imgs, _ := s.Images(ctx)
	var dangling int
	for _, img := range imgs {
		if img.Dangling() {
			dangling++
			if img.Digest != b.Digest {
				t.Errorf("wrong image dangling: %v", img.Digest)
			}
		}
	}
	if dangling != 1 || c.Names[0] != "localhost:5000/app:1" {
		t.Fatalf("dangling = %d, names %v", dangling, c.Names)
	}
}

func TestCheckFindsCorruption(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img := addImage(t, s, "x1", "x:1")
	p := s.BlobPath(img.ID)
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, problems, err := s.Check(ctx)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0].Message, "content has digest") {
		t.Fatalf("problems = %v, %v", problems, err)
	}
}

func TestAdoptBlob(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte("downloaded")
	src := filepath.Join(s.Root(), "partial-1")
	os.WriteFile(src, data, 0o644)
	if err := s.AdoptBlob(ctx, sha(data), int64(len(data))+1, src); err == nil {
		t.Fatal("wrong size adopted")
	}
	if err := s.AdoptBlob(ctx, sha(data), int64(len(data)), src); err != nil {
		t.Fatal(err)
	}
	if !s.HasBlob(sha(data)) {
		t.Fatal("blob not adopted")
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatal("source file still there")
	}
}
