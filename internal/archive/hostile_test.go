package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store/storetest"
	"github.com/berth-dev/berth/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type oldOpts struct {
	metadataFirst bool // manifest.json before the layers (skopeo) or after (docker)
	gzipLayers    bool // crane/go-containerregistry tarballs keep layers gzip'd
	hardlinks     bool // legacy layer.tar as hard links instead of symlinks
	edit          func(manifestJSON []byte) []byte
}

// oldArchive builds what docker save < 25 and skopeo docker-archive: write:
// manifest.json, a config file, one tar per layer and the legacy per-layer
// directories whose layer.tar links to it.
func oldArchive(t testing.TB, img v1.Image, tags []string, o oldOpts) []byte {
	t.Helper()
	cfg, err := img.RawConfigFile()
	must(t, err)
	cfgName, err := img.ConfigName()
	must(t, err)
	layers, err := img.Layers()
	must(t, err)
	var body, meta []tarEntry
	var paths []string
	for i, l := range layers {
		diffID, err := l.DiffID()
		must(t, err)
		rc, err := l.Uncompressed()
		must(t, err)
		b, err := io.ReadAll(rc)
		must(t, err)
		file := diffID.Hex + ".tar"
		if o.gzipLayers {
			b, file = testenv.Gzip(t, b), diffID.Hex+".tar.gz"
		}
		legacy := fmt.Sprintf("%064x", i+1)
		body = append(body, tarEntry{name: file, body: b}, tarEntry{name: legacy + "/", typ: tar.TypeDir})
		if o.hardlinks {
			body = append(body, tarEntry{name: legacy + "/layer.tar", typ: tar.TypeLink, linkname: file})
		} else {
			body = append(body, tarEntry{name: legacy + "/layer.tar", typ: tar.TypeSymlink, linkname: "../" + file})
		}
		body = append(body, tarEntry{name: legacy + "/json", body: []byte("{}")}, tarEntry{name: legacy + "/VERSION", body: []byte("1.0")})
		paths = append(paths, legacy+"/layer.tar")
	}
	body = append(body, tarEntry{name: cfgName.Hex + ".json", body: cfg})
	mj, err := json.Marshal([]map[string]any{{"Config": cfgName.Hex + ".json", "RepoTags": tags, "Layers": paths}})
	must(t, err)
	if o.edit != nil {
		mj = o.edit(mj)
	}
	meta = append(meta, tarEntry{name: "manifest.json", body: mj}, tarEntry{name: "repositories", body: []byte(`{}`)})
	if o.metadataFirst {
		return makeTar(t, append(meta, body...)...)
	}
	return makeTar(t, append(body, meta...)...)
}

func TestLoadOldFormat(t *testing.T) {
	img := testenv.Image(t, "linux/amd64", testenv.Layer(t, "old-1"), testenv.GzipLayer(t, "old-2"))
	cfgName, err := img.ConfigName()
	must(t, err)
	for _, tc := range []struct {
		name string
		o    oldOpts
		mt   types.MediaType
	}{
		{"docker<25", oldOpts{}, types.OCIUncompressedLayer},
		{"skopeo/manifest-first", oldOpts{metadataFirst: true}, types.OCIUncompressedLayer},
		{"gzip-layers", oldOpts{gzipLayers: true}, types.OCILayer},
		{"hardlinks", oldOpts{hardlinks: true}, types.OCIUncompressedLayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			loaded, err := load(t, st, oldArchive(t, img, []string{"old:1", "example.com/x/old:2"}, tc.o))
			must(t, err)
			if len(loaded) != 1 {
				t.Fatalf("loaded %d images", len(loaded))
			}
			want := []string{"docker.io/library/old:1", "example.com/x/old:2"}
			if fmt.Sprint(loaded[0].Names) != fmt.Sprint(want) {
				t.Errorf("names %q, want %q", loaded[0].Names, want)
			}
			rec, err := st.Lookup(context.Background(), "old:1")
			must(t, err)
			if rec.ID != cfgName {
				t.Errorf("image ID %s, want the config digest %s", rec.ID, cfgName)
			}
			m, err := st.Manifest(rec.Digest)
			must(t, err)
			if m.MediaType != types.OCIManifestSchema1 || len(m.Layers) != 2 {
				t.Fatalf("manifest %+v", m)
			}
			for _, l := range m.Layers {
				if l.MediaType != tc.mt {
					t.Errorf("layer media type %s, want %s", l.MediaType, tc.mt)
				}
			}
			// The same archive loads to the same manifest every time.
			again, err := load(t, newStore(t), oldArchive(t, img, nil, tc.o))
			must(t, err)
			if again[0].Descriptor.Digest != rec.Digest {
				t.Errorf("second load made manifest %s, first %s", again[0].Descriptor.Digest, rec.Digest)
			}
		})
	}
}

// TestHostileArchives: every damaged or malicious archive is refused with an
// error naming what was wrong, and the store is exactly as it was.
func TestHostileArchives(t *testing.T) {
	img := testenv.Image(t, "linux/amd64", testenv.Layer(t, "h-1"), testenv.GzipLayer(t, "h-2"))
	src := newStore(t)
	storetest.Add(t, src, img, "docker.io/library/good:1")
	good := save(t, src, archive.FormatDocker, archive.Entry{Image: img, Names: []string{"docker.io/library/good:1"}})
	layers, err := img.Layers()
	must(t, err)
	layer0 := digestOf(t, layers[0])
	manifest := digestOf(t, img)

	// replace rebuilds good with fn applied to each entry (nil drops it) and
	// extra entries appended.
	replace := func(fn func(h *tar.Header, b []byte) (*tar.Header, []byte), extra ...tarEntry) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		eachTarEntry(t, good, func(h *tar.Header, b []byte) {
			if fn != nil {
				h, b = fn(h, b)
			}
			if h == nil {
				return
			}
			h.Size = int64(len(b))
			must(t, tw.WriteHeader(h))
			tw.Write(b)
		})
		for _, e := range extra {
			typ := e.typ
			if typ == 0 {
				typ = tar.TypeReg
			}
			must(t, tw.WriteHeader(&tar.Header{Typeflag: typ, Name: e.name, Linkname: e.linkname, Size: int64(len(e.body)), Mode: 0o644}))
			tw.Write(e.body)
		}
		must(t, tw.Close())
		return buf.Bytes()
	}
	// Truncation mid-blob: keep the headers and part of the first layer.
	cut := bytes.Index(good, testenv.LayerTar(t, "h-1")[:512])
	oldImg := testenv.Image(t, "linux/amd64", testenv.Layer(t, "old-h"))
	oldEdit := func(from, to string) []byte {
		return oldArchive(t, oldImg, []string{"old:h"}, oldOpts{edit: func(b []byte) []byte {
			return bytes.Replace(b, []byte(from), []byte(to), 1)
		}})
	}

	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"dotdot", replace(nil, tarEntry{name: "blobs/../../evil", body: []byte("x")}), `"blobs/../../evil"`},
		{"absolute", replace(nil, tarEntry{name: "/etc/passwd", body: []byte("x")}), `"/etc/passwd"`},
		{"symlink-escape", replace(nil, tarEntry{name: "blobs/sha256/link", typ: tar.TypeSymlink, linkname: "../../../etc/passwd"}), `"blobs/sha256/link"`},
		{"symlink-absolute", replace(nil, tarEntry{name: "x", typ: tar.TypeSymlink, linkname: "/etc/passwd"}), `"x"`},
		{"hardlink-escape", replace(nil, tarEntry{name: "y", typ: tar.TypeLink, linkname: "../outside"}), `"y"`},
		{"device", replace(nil, tarEntry{name: "dev", typ: tar.TypeChar}), `"dev"`},
		{"duplicate", replace(nil, tarEntry{name: "index.json", body: []byte(`{}`)}), `"index.json" appears twice`},
		{"wrong-digest", replace(func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h.Name == "blobs/sha256/"+layer0.Hex {
				b = bytes.ToUpper(b)
			}
			return h, b
		}), layer0.Hex},
		{"missing-layer", replace(func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h.Name == "blobs/sha256/"+layer0.Hex {
				return nil, nil
			}
			return h, b
		}), layer0.Hex},
		{"missing-manifest", replace(func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h.Name == "blobs/sha256/"+manifest.Hex {
				return nil, nil
			}
			return h, b
		}), manifest.Hex},
		{"size-mismatch", replace(func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h.Name == "index.json" {
				b = bytes.Replace(b, []byte(`"size":`), []byte(`"size":1`), 1)
			}
			return h, b
		}), "bytes"},
		{"truncated", good[:cut+100], "truncated"},
		{"truncated-gzip", func() []byte { gz := compress(t, image.Gzip, good); return gz[:len(gz)/2] }(), "truncated"},
		{"not-an-archive", bytes.Repeat([]byte("not a tar "), 100), "archive"},
		{"empty", nil, "neither manifest.json nor index.json"},
		{"old-missing-file", oldEdit(`"Layers":["`, `"Layers":["nope/`), "nope/"},
		{"old-diffid-mismatch", func() []byte {
			b := oldArchive(t, oldImg, nil, oldOpts{})
			// Change one byte of the layer's file content (not its name).
			i := bytes.Index(b, []byte("old-h-0\n"))
			b[i] = 'O'
			return b
		}(), "config says"},
		{"old-escaping-config", oldEdit(`"Config":"`, `"Config":"../`), `..`},
	}
	// Each archive is read both ways: seekable (a file: blobs are read at
	// their offsets, in parallel) and as a stream (a pipe).
	for _, tc := range cases {
		for _, mode := range []string{"seekable", "stream"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				st := newStore(t)
				storetest.Add(t, st, testenv.Image(t, "linux/amd64", testenv.Layer(t, "h-1")), "docker.io/library/before:1")
				before := state(t, st)
				var r io.Reader = bytes.NewReader(tc.data)
				if mode == "stream" {
					r = struct{ io.Reader }{r}
				}
				_, err := archive.Load(context.Background(), r, sinkOf(st), archive.LoadOptions{})
				if err == nil {
					t.Fatal("load succeeded")
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q does not mention %q", err, tc.want)
				}
				t.Logf("error: %v", err)
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				if after := collected(t, st); after != before {
					t.Errorf("store changed:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			})
		}
	}
}

// cancelAfter cancels a context once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	m, err := c.r.Read(p)
	c.n -= m
	if c.n <= 0 {
		c.cancel()
	}
	return m, err
}

// TestLoadCancelled: Ctrl-C in the middle of a load leaves the store as it
// was, whatever was written before.
func TestLoadCancelled(t *testing.T) {
	img := testenv.Image(t, "linux/amd64", testenv.Layer(t, "c-1"), testenv.GzipLayer(t, "c-2"), testenv.Layer(t, "c-3"))
	src := newStore(t)
	storetest.Add(t, src, img, "docker.io/library/cancel:1")
	data := save(t, src, archive.FormatDocker, archive.Entry{Image: img, Names: []string{"docker.io/library/cancel:1"}})
	for _, at := range []int{1, 3000, len(data) / 2, len(data) - 600} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			st := newStore(t)
			before := state(t, st)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := archive.Load(ctx, &cancelAfter{r: bytes.NewReader(data), n: at, cancel: cancel}, sinkOf(st), archive.LoadOptions{})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if after := collected(t, st); after != before {
				t.Errorf("store changed:\n%s\n---\n%s", before, after)
			}
		})
	}
}

// TestLoadDir: a layout directory loads like its tar, under the same rules.
func TestLoadDir(t *testing.T) {
	img := testenv.Image(t, "linux/amd64", testenv.Layer(t, "d-1"), testenv.GzipLayer(t, "d-2"))
	src := newStore(t)
	storetest.Add(t, src, img, "docker.io/library/dir:1")
	data := save(t, src, archive.FormatOCI, archive.Entry{Image: img, Names: []string{"docker.io/library/dir:1"}})
	layers, err := img.Layers()
	must(t, err)
	layer := "blobs/sha256/" + digestOf(t, layers[0]).Hex
	unpack := func(t *testing.T) string {
		dir := t.TempDir()
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return dir
			}
			must(t, err)
			p := filepath.Join(dir, h.Name)
			if h.Typeflag == tar.TypeDir {
				must(t, os.MkdirAll(p, 0o755))
				continue
			}
			b, err := io.ReadAll(tr)
			must(t, err)
			must(t, os.WriteFile(p, b, 0o644))
		}
	}
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, dir string)
		want  string
	}{
		{"good", func(*testing.T, string) {}, ""},
		{"symlink-out", func(t *testing.T, dir string) {
			must(t, os.Symlink("../../../../etc/passwd", filepath.Join(dir, "blobs/sha256/evil")))
		}, `"blobs/sha256/evil"`},
		{"wrong-digest", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, layer), []byte("not the layer"), 0o644))
		}, layer},
		{"fifo", func(t *testing.T, dir string) {
			must(t, syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644))
		}, `"pipe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := unpack(t)
			tc.spoil(t, dir)
			st := newStore(t)
			before := state(t, st)
			loaded, err := archive.LoadDir(context.Background(), dir, sinkOf(st), archive.LoadOptions{})
			if tc.want == "" {
				must(t, err)
				if len(loaded) != 1 || loaded[0].Descriptor.Digest != digestOf(t, img) || loaded[0].Names[0] != "docker.io/library/dir:1" {
					t.Errorf("loaded %+v", loaded)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
			if after := collected(t, st); after != before {
				t.Errorf("store changed:\n%s\n---\n%s", before, after)
			}
		})
	}
}
