// Command remote-mkimage writes the deterministic benchmark image for
// bench/remote.sh: an OCI image layout holding one image of N uncompressed
// tar layers, each one file of pseudo-random (incompressible) bytes from a
// fixed seed, so every run and every machine builds identical digests.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("o", "", "output OCI layout directory")
	total := flag.Int64("size", 1<<30, "total bytes of layer content")
	layers := flag.Int("layers", 8, "number of layers")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: remote-mkimage -o DIR [-size BYTES] [-layers N]")
		os.Exit(2)
	}
	if err := run(*out, *total, *layers); err != nil {
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

func run(dir string, total int64, n int) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	var layerDescs []desc
	var diffIDs []string
	for i := 0; i < n; i++ {
		d, err := writeLayer(blobs, i, total/int64(n))
		if err != nil {
			return err
		}
		layerDescs = append(layerDescs, d)
		diffIDs = append(diffIDs, d.Digest) // uncompressed: diff ID = digest
	}
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

// writeLayer writes a tar with one file of size bytes from a ChaCha8 stream
// seeded by the layer number.
func writeLayer(blobs string, i int, size int64) (desc, error) {
	tmp, err := os.CreateTemp(blobs, "layer-")
	if err != nil {
		return desc{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	cw := &counter{w: io.MultiWriter(tmp, h)}
	tw := tar.NewWriter(cw)
	hdr := &tar.Header{Name: fmt.Sprintf("data/layer%d.bin", i), Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return desc{}, err
	}
	var seed [32]byte
	seed[0] = byte(i)
	rng := rand.NewChaCha8(seed)
	if _, err := io.CopyN(tw, rng, size); err != nil {
		return desc{}, err
	}
	if err := tw.Close(); err != nil {
		return desc{}, err
	}
	if err := tmp.Close(); err != nil {
		return desc{}, err
	}
	hx := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(blobs, hx)); err != nil {
		return desc{}, err
	}
	return desc{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: "sha256:" + hx, Size: cw.n}, nil
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
