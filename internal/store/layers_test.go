package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// tarOf makes a tar of files name→content.
func tarOf(t *testing.T, files ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := 0; i+1 < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[i+1]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zst(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func putLayer(t *testing.T, s *Store, blob []byte, mt types.MediaType) v1.Descriptor {
	t.Helper()
	d := v1.Descriptor{MediaType: mt, Size: int64(len(blob)), Digest: sha(blob)}
	if err := s.WriteBlob(context.Background(), d.Digest, d.Size, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	return d
}

// walkTar reads a layer stream as build and scan do: entry by entry up to
// the tar's end, not to the end of the stream.
func walkTar(r io.Reader) (int, error) {
	tr := tar.NewReader(r)
	n := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return n, err
		}
		n++
	}
}

func TestOpenLayerVerifiesDiffID(t *testing.T) {
	// Content ending in zero bytes, as every tar does, and with a file of
	// zeros inside.
	plain := tarOf(t, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", "zeros", string(make([]byte, 300<<10)), "bin/sh", "#!")
	other := tarOf(t, "etc/passwd", "evil:x:0:0::/root:/bin/sh\n", "zeros", string(make([]byte, 300<<10)), "bin/sh", "#!")
	for _, tc := range []struct {
		name string
		blob []byte
		mt   types.MediaType
	}{
		{"gzip", gz(t, plain), types.OCILayer},
		{"zstd", zst(t, plain), types.OCILayerZStd},
		{"plain", plain, types.OCIUncompressedLayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			l := putLayer(t, s, tc.blob, tc.mt)

			// A wrong diff ID: the tar reader never sees the archive's end,
			// and the error names the layer, on one line.
			rc, err := s.OpenLayer(l, sha(other))
			if err == nil {
				_, err = walkTar(rc)
				if cerr := rc.Close(); cerr == nil || !errors.Is(cerr, ErrLayerMismatch) {
					t.Errorf("Close after a mismatch: %v", cerr)
				}
			}
			var me *LayerMismatchError
			if !errors.As(err, &me) || me.Layer != l.Digest || me.Got != sha(plain) || me.DiffID != sha(other) {
				t.Fatalf("wrong diff ID: err = %v", err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, l.Digest.String()) {
				t.Fatalf("error is not one line naming the layer: %q", msg)
			}
			// Known now: refused at once, and by VerifyLayer.
			if _, err := s.OpenLayer(l, sha(other)); !errors.Is(err, ErrLayerMismatch) {
				t.Fatalf("second open: %v", err)
			}
			if _, err := s.VerifyLayer(ctx, l, sha(other)); !errors.Is(err, ErrLayerMismatch) {
				t.Fatalf("VerifyLayer: %v", err)
			}

			// The right diff ID: every byte comes through.
			for range 2 {
				rc, err := s.OpenLayer(l, sha(plain))
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("read %d bytes, err %v; want %d bytes", len(got), err, len(plain))
				}
				if err := rc.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := s.VerifyLayer(ctx, l, sha(plain)); err != nil || n != int64(len(plain)) {
				t.Fatalf("VerifyLayer = %d, %v", n, err)
			}
			if n, err := s.LayerSize(l); err != nil || n != int64(len(plain)) {
				t.Fatalf("LayerSize = %d, %v", n, err)
			}
		})
	}
}

// A reader that stops at the tar's end still gets the verdict from Close.
func TestOpenLayerCloseVerifies(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plain := tarOf(t, "a", "a")
	l := putLayer(t, s, gz(t, plain), types.OCILayer)
	rc, err := s.OpenLayer(l, sha([]byte("not it")))
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(rc, make([]byte, 512)) // the first header only
	if err := rc.Close(); !errors.Is(err, ErrLayerMismatch) {
		t.Fatalf("Close = %v, want a mismatch", err)
	}
}

func TestLayerSizeFromTrailer(t *testing.T) {
	ctx := context.Background()
	// 64 KiB that does not compress, then text that does.
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = byte(i*7919>>3) ^ byte(i*104729>>11)
	}
	plain := tarOf(t, "noise", string(noise), "f", strings.Repeat("text that compresses ", 5000))
	good := gz(t, plain)
	withISIZE := func(n uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[len(b)-4:], n)
		return b
	}
	// Two members: the last one's trailer speaks for itself only.
	multi := append(gz(t, plain[:len(plain)-1024]), gz(t, plain[len(plain)-1024:])...)
	for _, tc := range []struct {
		name    string
		blob    []byte
		want    int64 // LayerSize; -1: an error (the stream is corrupt)
		claimed bool  // taken from the trailer, not counted
	}{
		{"honest trailer", good, int64(len(plain)), true},
		{"several members", multi, int64(len(plain)), false},
		{"trailer smaller than the stream could be", withISIZE(10), -1, false},
		{"trailer beyond deflate's ratio", withISIZE(1 << 31), -1, false},
		// A lie within the bounds is shown until the layer is first read,
		// which gzip's own check of the trailer then refuses.
		{"plausible lie", withISIZE(uint32(len(good) * 3)), int64(len(good) * 3), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			l := putLayer(t, s, tc.blob, types.OCILayer)
			n, err := s.LayerSize(l)
			if tc.want < 0 {
				if err == nil || !strings.Contains(err.Error(), l.Digest.String()) {
					t.Fatalf("LayerSize = %d, %v; want an error naming the layer", n, err)
				}
				return
			}
			if err != nil || n != tc.want {
				t.Fatalf("LayerSize = %d, %v; want %d", n, err, tc.want)
			}
			f, _ := s.layerFacts(l.Digest)
			if f.Claimed != tc.claimed {
				t.Fatalf("facts %+v, want claimed=%v", f, tc.claimed)
			}
			_, err = s.VerifyLayer(ctx, l, sha(plain))
			corrupt := !bytes.Equal(tc.blob, good) && !bytes.Equal(tc.blob, multi)
			if (err != nil) != corrupt {
				t.Fatalf("VerifyLayer: %v", err)
			}
			if !corrupt {
				if n, _ := s.LayerSize(l); n != int64(len(plain)) {
					t.Fatalf("after reading: LayerSize = %d, want %d", n, len(plain))
				}
			}
		})
	}
}

// A record's size made from a trailer's claim is corrected when the layer
// is read and counted.
func TestTrailerLieCorrected(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Several members whose last one's trailer is plausible for the whole.
	plain := tarOf(t, "f", strings.Repeat("x", 100<<10), "g", strings.Repeat("random-ish 0123456789", 20000))
	cut := len(plain) - 1024*300
	blob := append(gz(t, plain[:cut]), gz(t, plain[cut:])...)
	l := putLayer(t, s, blob, types.OCILayer)
	img := addLayered(t, s, l, sha(plain), "app:1")
	if f, _ := s.layerFacts(l.Digest); !f.Claimed || img.Size == int64(len(plain)) {
		t.Fatalf("the last member's trailer should pass for the whole stream: facts %+v, record size %d", f, img.Size)
	}
	if _, err := s.VerifyLayer(ctx, l, sha(plain)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(ctx, "app:1")
	if err != nil || got.Size != int64(len(plain)) {
		t.Fatalf("record size %d (%v), want %d", got.Size, err, len(plain))
	}
}

// addLayered records an image of one layer l whose config lists diffID.
func addLayered(t *testing.T, s *Store, l v1.Descriptor, diffID v1.Hash, names ...string) Image {
	t.Helper()
	ctx := context.Background()
	c := []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["` + diffID.String() + `"]}}`)
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":` +
		itoa(len(c)) + `,"digest":"` + sha(c).String() + `"},"layers":[{"mediaType":"` + string(l.MediaType) + `","size":` + itoa(int(l.Size)) + `,"digest":"` + l.Digest.String() + `"}]}`)
	for _, b := range [][]byte{c, m} {
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

func TestCheckVerifiesDiffIDs(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plain := tarOf(t, "ok", "fine")
	good := putLayer(t, s, gz(t, plain), types.OCILayer)
	addLayered(t, s, good, sha(plain), "good:1")
	badPlain := tarOf(t, "bad", "tampered")
	bad := putLayer(t, s, gz(t, badPlain), types.OCILayer)
	addLayered(t, s, bad, sha([]byte("what the config says")), "bad:1")

	_, problems, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Message, bad.Digest.String()) || !strings.Contains(problems[0].Message, "docker.io/library/bad:1") {
		t.Fatalf("problems = %v", problems)
	}
	// Through the v1.Image every command reads: the config's diff ID, and
	// the content refused.
	img, err := s.Lookup(ctx, "bad:1")
	if err != nil {
		t.Fatal(err)
	}
	vi, err := s.Image(ctx, img, nil)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := vi.Layers()
	if err != nil || len(ls) != 1 {
		t.Fatal(ls, err)
	}
	if d, _ := ls[0].DiffID(); d != sha([]byte("what the config says")) {
		t.Fatalf("DiffID = %s, want the config's", d)
	}
	if _, err := ls[0].Uncompressed(); !errors.Is(err, ErrLayerMismatch) {
		t.Fatalf("Uncompressed: %v", err)
	}
	os.Remove(s.metaPath(bad.Digest)) // not known yet: found while reading
	rc, err := ls[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := walkTar(rc); !errors.Is(err, ErrLayerMismatch) {
		t.Fatalf("reading: %v", err)
	}
	rc.Close()
}
