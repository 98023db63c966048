package image_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/berth-dev/berth/internal/image"
)

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.tar")
	os.WriteFile(junk, []byte("not a tar at all"), 0o644)
	emptyLayout := filepath.Join(dir, "empty")
	if _, err := layout.Write(emptyLayout, empty.Index); err != nil {
		t.Fatal(err)
	}
	plainDir := filepath.Join(dir, "rootfs")
	os.Mkdir(plainDir, 0o755)
	for _, c := range []struct {
		arg, word string
		is        error
	}{
		{"docker-archive:" + filepath.Join(dir, "missing.tar"), "no such file", os.ErrNotExist},
		{"docker-archive:" + junk, "reading docker archive", nil},
		{"oci-archive:" + junk, "reading oci archive", nil},
		{"oci:" + emptyLayout, "holds no image", nil},
		{"oci:" + emptyLayout + ":nope", `no image tagged "nope"`, nil},
		{"registry:UPPER/Case", "registries are not available", image.ErrUnknownSource},
		{"somewhere", "store is not available", image.ErrUnknownSource},
		{"bogus:x", "store is not available", image.ErrUnknownSource},
		{plainDir, "is a directory but not an OCI image layout", image.ErrNotLayout},
		{filepath.Join(dir, "nope.tar"), "no such file", os.ErrNotExist},
		{"./nope", "no such file", os.ErrNotExist},
	} {
		t.Run(c.arg, func(t *testing.T) {
			_, err := image.Open(context.Background(), c.arg, image.OpenOptions{})
			if err == nil || !strings.Contains(err.Error(), c.word) {
				t.Errorf("err = %v, want it to say %q", err, c.word)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("err = %v, want it to match %v", err, c.is)
			}
		})
	}
}

// fakeReader records what the opener asked the store or registry for.
type fakeReader struct {
	asked []string
	err   error
}

func (f *fakeReader) StoreImage(ctx context.Context, n string, p *v1.Platform) (v1.Image, error) {
	f.asked = append(f.asked, "store:"+n)
	return nil, f.err
}

func (f *fakeReader) RegistryImage(ctx context.Context, n string, p *v1.Platform) (v1.Image, error) {
	f.asked = append(f.asked, "registry:"+n)
	return nil, errors.New("offline")
}

// A plain name goes to the store; only with RegistryFallback, and only
// when the store does not hold it, to the registry.
func TestOpenNameOrder(t *testing.T) {
	for _, c := range []struct {
		name     string
		storeErr error
		fallback bool
		want     string
	}{
		{"not in store, no fallback", image.ErrNotFound, false, "store:app:1"},
		{"not in store, fallback", image.ErrNotFound, true, "store:app:1 registry:app:1"},
		{"store broken", errors.New("disk on fire"), true, "store:app:1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeReader{err: c.storeErr}
			_, err := image.Open(context.Background(), "app:1", image.OpenOptions{Store: f, Registry: f, RegistryFallback: c.fallback})
			if err == nil {
				t.Fatal("opened")
			}
			if got := strings.Join(f.asked, " "); got != c.want {
				t.Errorf("asked %q, want %q", got, c.want)
			}
		})
	}
	f := &fakeReader{}
	image.Open(context.Background(), "registry:localhost:5000/app:1", image.OpenOptions{Store: f, Registry: f})
	if strings.Join(f.asked, " ") != "registry:localhost:5000/app:1" {
		t.Errorf("registry: prefix asked %v", f.asked)
	}
}

func TestSplitSource(t *testing.T) {
	for _, c := range []struct {
		arg, kind, rest string
	}{
		{"docker-archive:a.tar", "docker-archive", "a.tar"},
		{"docker-archive:///abs/a.tar", "docker-archive", "/abs/a.tar"},
		{"oci-archive:x.tar", "oci-archive", "x.tar"},
		{"oci:dir:tag", "oci", "dir:tag"},
		{"registry:localhost:5000/app:1", "registry", "localhost:5000/app:1"},
		{"registry:5000/app:1", "", "registry:5000/app:1"}, // a host named registry
		{"berth:busybox", "berth", "busybox"},
		{"docker://busybox", "berth", "busybox"},
		{"busybox:latest", "", "busybox:latest"},
	} {
		k, rest := image.SplitSource(c.arg)
		if string(k) != c.kind || rest != c.rest {
			t.Errorf("SplitSource(%q) = %q, %q; want %q, %q", c.arg, k, rest, c.kind, c.rest)
		}
	}
}

func TestVerify(t *testing.T) {
	data := []byte("some layer bytes")
	sum := sha256.Sum256(data)
	d := v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, Size: int64(len(data))}
	flipped := append([]byte(nil), data...)
	flipped[3] ^= 1
	for _, c := range []struct {
		name string
		in   []byte
		d    v1.Descriptor
		word string
	}{
		{"good", data, d, ""},
		{"one byte changed", flipped, d, "does not match its digest"},
		{"short", data[:4], d, "4 bytes, not 16"},
		{"long", append(append([]byte(nil), data...), 'x'), d, "more than its 16 bytes"},
		{"unknown size", data, v1.Descriptor{Digest: d.Digest, Size: -1}, ""},
		{"md5", data, v1.Descriptor{Digest: v1.Hash{Algorithm: "md5", Hex: "00"}}, "unsupported digest algorithm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc, err := image.Verify(io.NopCloser(bytes.NewReader(c.in)), c.d)
			if err == nil {
				_, err = io.ReadAll(rc)
				rc.Close()
			}
			if c.word == "" && err != nil || c.word != "" && (err == nil || !strings.Contains(err.Error(), c.word)) {
				t.Errorf("err = %v, want %q", err, c.word)
			}
		})
	}
	if _, err := image.ReadVerified(io.NopCloser(bytes.NewReader(data)), d, 8); err == nil {
		t.Error("ReadVerified took a blob above its bound")
	}
}
