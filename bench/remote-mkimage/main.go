// Command remote-mkimage writes the deterministic benchmark image for
// bench/remote.sh: an OCI image layout holding one image of N gzip tar
// layers whose content looks like a real image's — a base layer of many
// small text and binary files, layers of medium files, and layers of large
// mostly incompressible files (compressed assets, random data) mixed with
// text — so that 1 GiB of content compresses to about 780 MB, as
// distribution images do (about 0.75 of their size). Everything comes from
// fixed seeds, so every run and every machine builds identical digests.
// -gzip=false writes the same tars uncompressed.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

func main() {
	out := flag.String("o", "", "output OCI layout directory")
	total := flag.Int64("size", 1<<30, "total bytes of layer content (uncompressed)")
	layers := flag.Int("layers", 8, "number of layers")
	gz := flag.Bool("gzip", true, "gzip the layers (false: plain tars)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: remote-mkimage -o DIR [-size BYTES] [-layers N] [-gzip=false]")
		os.Exit(2)
	}
	if err := run(*out, *total, *layers, *gz); err != nil {
		fmt.Fprintln(os.Stderr, "remote-mkimage:", err)
		os.Exit(1)
	}
}

type desc struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type layerOut struct {
	desc   desc
	diffID string
	tarLen int64
}

func run(dir string, total int64, n int, gz bool) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	res := make([]layerOut, n)
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for i := range n {
		g.Go(func() error {
			var err error
			res[i], err = writeLayer(blobs, i, total/int64(n), gz)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var layerDescs []desc
	var diffIDs []string
	var comp, plain int64
	for _, l := range res {
		layerDescs = append(layerDescs, l.desc)
		diffIDs = append(diffIDs, l.diffID)
		comp += l.desc.Size
		plain += l.tarLen
	}
	fmt.Fprintf(os.Stderr, "remote-mkimage: %d layers, %d bytes of tar, %d bytes as stored (%.3f)\n", n, plain, comp, float64(comp)/float64(plain))
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"created": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		"config":  map[string]any{"Cmd": []string{"/bin/sh"}},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cd, err := writeBlob(blobs, cfg, "application/vnd.oci.image.config.v1+json")
	if err != nil {
		return err
	}
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": cd, "layers": layerDescs,
	})
	md, err := writeBlob(blobs, man, "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		return err
	}
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": "v1"}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []desc{md}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

func writeBlob(blobs string, b []byte, mt string) (desc, error) {
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	return desc{MediaType: mt, Digest: "sha256:" + h, Size: int64(len(b))}, os.WriteFile(filepath.Join(blobs, h), b, 0o644)
}

// profile says what files a layer holds: sizes drawn log-uniformly from
// [minSize, maxSize], and the share of text, binary-like and random files.
type profile struct {
	minSize, maxSize  float64
	text, bin, random float64
}

// profiles, by layer number (cycled): a base system of small files, then
// libraries and sources, then application layers of large files.
var profiles = []profile{
	{256, 32 << 10, 0.45, 0.45, 0.10},
	{4 << 10, 1 << 20, 0.35, 0.40, 0.25},
	{1 << 20, 24 << 20, 0.25, 0.15, 0.60},
	{64 << 10, 8 << 20, 0.25, 0.25, 0.50},
	{1 << 20, 32 << 20, 0.20, 0.15, 0.65},
	{16 << 10, 2 << 20, 0.30, 0.30, 0.40},
	{1 << 20, 32 << 20, 0.15, 0.15, 0.70},
	{4 << 10, 4 << 20, 0.30, 0.25, 0.45},
}

// writeLayer writes a tar of about size bytes of files made from a ChaCha8
// stream seeded by the layer number, gzip-compressed when gz.
func writeLayer(blobs string, i int, size int64, gz bool) (layerOut, error) {
	tmp, err := os.CreateTemp(blobs, "layer-")
	if err != nil {
		return layerOut{}, err
	}
	defer os.Remove(tmp.Name())
	blobHash := sha256.New()
	stored := &counter{w: io.MultiWriter(tmp, blobHash)}
	var zw *gzip.Writer
	var tarDst io.Writer = stored
	if gz {
		zw, _ = gzip.NewWriterLevel(stored, gzip.DefaultCompression)
		tarDst = zw
	}
	diff := sha256.New()
	plain := &counter{w: io.MultiWriter(tarDst, diff)}
	tw := tar.NewWriter(plain)

	var seed [32]byte
	seed[0] = byte(i)
	rng := rand.New(rand.NewChaCha8(seed))
	src := rand.NewChaCha8(seed)
	p := profiles[i%len(profiles)]
	g := &gen{rng: rng, src: src}
	// The tar ends with two zero blocks, and each entry is a header and
	// its content padded to 512 bytes.
	var byKind [3]int64
	for f := 0; plain.n+2048 < size; f++ {
		fsize := int64(math.Exp(math.Log(p.minSize) + rng.Float64()*(math.Log(p.maxSize)-math.Log(p.minSize))))
		fsize = min(fsize, (size-plain.n-2048)&^511)
		// The kind furthest below its share of the bytes so far, so that
		// each layer's mix (and so its compressed size) is what the
		// profile says, not what a few large files happened to draw.
		kind, fill := "txt", g.text
		shares := [3]float64{p.text, p.bin, p.random}
		k := 0
		for j := range shares {
			if shares[j]*float64(plain.n+fsize)-float64(byKind[j]) > shares[k]*float64(plain.n+fsize)-float64(byKind[k]) {
				k = j
			}
		}
		byKind[k] += fsize
		switch k {
		case 1:
			kind, fill = "so", g.binary
		case 2:
			kind, fill = "bin", g.random
		}
		hdr := &tar.Header{
			Name:    fmt.Sprintf("layer%d/d%02d/f%06d.%s", i, f%64, f, kind),
			Mode:    0o644,
			Size:    fsize,
			ModTime: time.Unix(1767225600, 0),
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return layerOut{}, err
		}
		if err := fill(tw, fsize); err != nil {
			return layerOut{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return layerOut{}, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return layerOut{}, err
		}
	}
	if err := tmp.Close(); err != nil {
		return layerOut{}, err
	}
	hx := hex.EncodeToString(blobHash.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(blobs, hx)); err != nil {
		return layerOut{}, err
	}
	mt := "application/vnd.oci.image.layer.v1.tar"
	if gz {
		mt += "+gzip"
	}
	return layerOut{
		desc:   desc{MediaType: mt, Digest: "sha256:" + hx, Size: stored.n},
		diffID: "sha256:" + hex.EncodeToString(sum(diff)),
		tarLen: plain.n,
	}, nil
}

func sum(h hash.Hash) []byte { return h.Sum(nil) }

// gen makes file contents of three kinds.
type gen struct {
	rng   *rand.Rand
	src   *rand.ChaCha8
	words []string
	table [][]byte
	buf   []byte
}

// random is incompressible (compressed assets, media, packed data).
func (g *gen) random(w io.Writer, n int64) error {
	_, err := io.CopyN(w, g.src, n)
	return err
}

// text is words from a skewed vocabulary in lines, as sources, scripts and
// documentation are: gzip takes it to about a third.
func (g *gen) text(w io.Writer, n int64) error {
	if g.words == nil {
		for range 4096 {
			b := make([]byte, 2+g.rng.IntN(9))
			for j := range b {
				b[j] = "etaoinshrdlucmfwypvbgkqjxz_"[min(g.rng.IntN(27), g.rng.IntN(27))]
			}
			g.words = append(g.words, string(b))
		}
	}
	g.buf = g.buf[:0]
	for int64(len(g.buf)) < n {
		// A power-law pick: a few words are everywhere, most are rare.
		idx := int(math.Pow(g.rng.Float64(), 3) * float64(len(g.words)))
		g.buf = append(g.buf, g.words[idx]...)
		switch g.rng.IntN(12) {
		case 0:
			g.buf = append(g.buf, '\n')
			g.buf = append(g.buf, "\t\t"[:g.rng.IntN(3)]...)
		case 1:
			g.buf = append(g.buf, "(), "...)
		default:
			g.buf = append(g.buf, ' ')
		}
	}
	_, err := w.Write(g.buf[:n])
	return err
}

// binary looks like executables and libraries: runs of zeros, recurring
// instruction-like blocks and random bytes; gzip takes it to about half.
func (g *gen) binary(w io.Writer, n int64) error {
	if g.table == nil {
		for range 256 {
			b := make([]byte, 64)
			g.src.Read(b)
			g.table = append(g.table, b)
		}
	}
	g.buf = g.buf[:0]
	var blk [64]byte
	for int64(len(g.buf)) < n {
		switch x := g.rng.IntN(10); {
		case x < 4:
			g.src.Read(blk[:])
			g.buf = append(g.buf, blk[:]...)
		case x < 6:
			g.buf = append(g.buf, make([]byte, 64)...)
		default:
			g.buf = append(g.buf, g.table[int(math.Pow(g.rng.Float64(), 2)*256)]...)
		}
	}
	_, err := w.Write(g.buf[:n])
	return err
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
