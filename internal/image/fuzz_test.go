package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/testenv"
)

// ociArchive writes a small image (one plain and one gzip layer, and a
// two-platform index of it) as an OCI layout and returns the layout as a tar,
// as skopeo's oci-archive: writes it.
func ociArchive(t testing.TB) []byte {
	img := testenv.Image(t, "linux/amd64", testenv.Layer(t, "fz-1"), testenv.GzipLayer(t, "fz-2"))
	arm := testenv.Image(t, "linux/arm64", testenv.Layer(t, "fz-3"))
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img}, mutate.IndexAddendum{Add: arm})
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data))})
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return buf.Bytes()
}

func tarOf(t testing.TB, entries ...*tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		body := []byte(h.Linkname)
		if h.Typeflag == tar.TypeReg {
			h.Size, h.Linkname = int64(len(body)), ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// FuzzOpenOCIArchive feeds arbitrary bytes to the opener as the OCI archive
// dive and scan read (oci-archive:FILE, or a plain path whose content says
// so). It must not panic; whatever it opens must read its config and every
// layer to the end without panicking, and a layer that reads without error
// must be exactly the bytes its digest names (Verify).
func FuzzOpenOCIArchive(f *testing.F) {
	good := ociArchive(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(tarOf(f, &tar.Header{Name: "index.json", Linkname: `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:` + strings.Repeat("0", 64) + `","size":2}]}`}, &tar.Header{Name: "oci-layout", Linkname: `{"imageLayoutVersion":"1.0.0"}`}))
	f.Add(tarOf(f, &tar.Header{Name: "index.json", Linkname: `{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../etc/passwd","size":1}]}`}))
	f.Add(tarOf(f, &tar.Header{Name: "../index.json", Linkname: "{}"}, &tar.Header{Name: "blobs/sha256/x", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "a.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, arg := range []string{"oci-archive:" + p, p} {
			src, err := image.Open(context.Background(), arg, image.OpenOptions{})
			if err != nil {
				continue
			}
			readAll(t, src)
			src.Close()
		}
	})
}

// FuzzOpenLayout: an OCI layout directory whose index.json and one blob
// are arbitrary. The opener must not panic, nor read a file outside the
// layout's blobs.
func FuzzOpenLayout(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+strings.Repeat("a", 64)+`","size":3,"annotations":{"org.opencontainers.image.ref.name":"t"}}]}`), []byte(`{"schemaVersion":2,"config":{"digest":"sha256:`+strings.Repeat("a", 64)+`","size":3},"layers":[]}`))
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:`+strings.Repeat("a", 64)+`","size":1}]}`), []byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:`+strings.Repeat("a", 64)+`","size":1}]}`))
	f.Fuzz(func(t *testing.T, index, blob []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644)
		sum := sha256.Sum256(blob)
		os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
		os.WriteFile(filepath.Join(dir, "blobs", "sha256", hex.EncodeToString(sum[:])), blob, 0o644)
		os.WriteFile(filepath.Join(dir, "blobs", "sha256", strings.Repeat("a", 64)), blob, 0o644)
		for _, arg := range []string{"oci:" + dir, "oci:" + dir + ":t"} {
			src, err := image.Open(context.Background(), arg, image.OpenOptions{})
			if err != nil {
				continue
			}
			readAll(t, src)
			src.Close()
		}
	})
}

// readAll reads what an opened image says it holds, checking that a layer
// read without error is the blob its digest names.
func readAll(t *testing.T, src *image.Opened) {
	t.Helper()
	if _, err := src.ConfigFile(); err != nil {
		return
	}
	src.RawManifest()
	layers, err := src.Layers()
	if err != nil {
		return
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			continue
		}
		rc, err := l.Compressed()
		if err != nil {
			continue
		}
		h := sha256.New()
		_, err = io.Copy(h, io.LimitReader(rc, 64<<20))
		rc.Close()
		if err == nil && d.Algorithm == "sha256" && hex.EncodeToString(h.Sum(nil)) != d.Hex {
			t.Fatalf("layer %s read without error but its bytes hash to %x", d, h.Sum(nil))
		}
	}
}

// FuzzWriteLayer is `berth import` of arbitrary bytes (a file, stdin or a
// URL): decompressed as found, then rewritten as a layer. It must not panic,
// and a layer it writes must hold only clean, relative names (no "..", no
// absolute path) and hard links to such names.
func FuzzWriteLayer(f *testing.F) {
	for _, s := range testenv.HostileTars(f) {
		f.Add(s)
	}
	plain := tarOf(f, &tar.Header{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755}, &tar.Header{Name: "./etc/passwd", Linkname: "root:x:0:0::/:/bin/sh\n"},
		&tar.Header{Name: "/abs/file", Linkname: "x"}, &tar.Header{Name: "link", Typeflag: tar.TypeLink, Linkname: "etc/passwd"},
		&tar.Header{Name: "sym", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"})
	f.Add(plain)
	f.Add(testenv.Gzip(f, plain))
	f.Add(tarOf(f, &tar.Header{Name: "../evil", Linkname: "x"}))
	f.Add(tarOf(f, &tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x90, 0x31, 0, 0})
	f.Add([]byte("BZh91AY&SY"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, _, err := image.Decompress(bytes.NewReader(data))
		if err != nil {
			return
		}
		defer rc.Close()
		var out bytes.Buffer
		if _, err := image.WriteLayer(context.Background(), io.LimitReader(rc, 16<<20), &out); err != nil {
			return
		}
		zr, _, err := image.Decompress(&out)
		if err != nil {
			t.Fatalf("written layer does not decompress: %v", err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("written layer is not a tar: %v", err)
			}
			for _, n := range []string{h.Name, map[bool]string{true: h.Linkname}[h.Typeflag == tar.TypeLink]} {
				if n == "" {
					continue
				}
				if err := fsutil.CheckTarPath(strings.TrimSuffix(n, "/")); err != nil {
					t.Fatalf("written layer holds %q: %v", n, err)
				}
			}
		}
	})
}

// FuzzDecompress: whatever the bytes, detection and the bounded decoders
// must not panic, and reading is bounded (the caller's limit holds).
func FuzzDecompress(f *testing.F) {
	for _, s := range [][]byte{[]byte("plain"), testenv.Gzip(f, []byte("hello")), {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x90}, []byte("BZh9"), {0xfd, '7', 'z', 'X', 'Z', 0, 0, 4, 0xe6, 0xd6, 0xb4, 0x46, 2, 0, 0x21, 1, 0x16, 0, 0, 0}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, _, err := image.Decompress(bytes.NewReader(data))
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(rc, 32<<20))
		rc.Close()
	})
}
