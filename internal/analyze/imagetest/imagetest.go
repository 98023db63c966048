package imagetest

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"
)

// File is one tar entry of a layer.
type File struct {
	Path     string
	Size     int64  // content length of a regular file
	Seed     byte   // content is a pattern derived from Seed: equal seeds and sizes give equal bytes
	Dir      bool   // a directory
	Symlink  string // a symlink to this target
	Hardlink string // a hard link to this path
	Mode     int64  // default 0644 (0755 for directories)
	Raw      *tar.Header
}

// Whiteout returns the entry that deletes p in a lower layer.
func Whiteout(p string) File {
	dir, base := filepath.Split(p)
	return File{Path: dir + ".wh." + base}
}

// Opaque returns the entry that hides everything lower layers put in dir.
func Opaque(dir string) File { return File{Path: filepath.Join(dir, ".wh..wh..opq")} }

// Layer is one layer and the history line that made it.
type Layer struct {
	CreatedBy string
	Files     []File
}

// WriteTar writes the layer's entries as a tar to w.
func WriteTar(w io.Writer, files []File) error {
	tw := tar.NewWriter(w)
	var buf [64 << 10]byte
	mtime := time.Unix(1700000000, 0)
	for _, f := range files {
		hdr := f.Raw
		if hdr == nil {
			hdr = &tar.Header{Name: f.Path, Mode: f.Mode, ModTime: mtime, Typeflag: tar.TypeReg, Size: f.Size}
			switch {
			case f.Dir:
				hdr.Typeflag, hdr.Size = tar.TypeDir, 0
				if hdr.Mode == 0 {
					hdr.Mode = 0o755
				}
			case f.Symlink != "":
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, f.Symlink, 0
			case f.Hardlink != "":
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, f.Hardlink, 0
			}
			if hdr.Mode == 0 {
				hdr.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing header of %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			for i := range buf {
				buf[i] = f.Seed + byte(i*7)
			}
			for left := hdr.Size; left > 0; {
				n := int64(len(buf))
				if left < n {
					n = left
				}
				if _, err := tw.Write(buf[:n]); err != nil {
					return err
				}
				left -= n
			}
		}
	}
	return tw.Close()
}

type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) { c.n += int64(len(p)); return c.h.Write(p) }

// WriteDockerArchive writes the layers as a `docker save` archive at path,
// tagged tag (e.g. "waste:latest"), with a config whose history names each
// layer's CreatedBy. Layers go through temporary files in tmpDir.
func WriteDockerArchive(path, tag, tmpDir string, layers []Layer) error {
	var lfs []layerFile
	defer func() {
		for _, lf := range lfs {
			os.Remove(lf.path)
		}
	}()
	for _, l := range layers {
		f, err := os.CreateTemp(tmpDir, "layer-*.tar")
		if err != nil {
			return err
		}
		ch := &countingHash{h: sha256.New()}
		err = WriteTar(io.MultiWriter(f, ch), l.Files)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		lfs = append(lfs, layerFile{f.Name(), "sha256:" + hex.EncodeToString(ch.h.Sum(nil)), ch.n})
		if err != nil {
			return err
		}
	}
	type history struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}
	cfg := map[string]any{
		"architecture": "amd64", "os": "linux",
		"config":  map[string]any{"Cmd": []string{"/bin/sh"}},
		"created": "2024-01-01T00:00:00Z",
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs(lfs)},
		"history": func() []history {
			var h []history
			for _, l := range layers {
				h = append(h, history{"2024-01-01T00:00:00Z", l.CreatedBy})
			}
			return h
		}(),
	}
	cfgBytes, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(cfgBytes)
	cfgName := hex.EncodeToString(sum[:]) + ".json"
	var layerPaths []string
	for _, lf := range lfs {
		layerPaths = append(layerPaths, lf.diffID[len("sha256:"):]+"/layer.tar")
	}
	manifest, err := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{tag}, "Layers": layerPaths}})
	if err != nil {
		return err
	}

	out, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	mtime := time.Unix(1700000000, 0)
	writeBytes := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	err = writeBytes(cfgName, cfgBytes)
	for i, lf := range lfs {
		if err != nil {
			break
		}
		if err = tw.WriteHeader(&tar.Header{Name: layerPaths[i], Mode: 0o644, Size: lf.size, ModTime: mtime}); err != nil {
			break
		}
		var f *os.File
		if f, err = os.Open(lf.path); err != nil {
			break
		}
		_, err = io.Copy(tw, f)
		f.Close()
	}
	if err == nil {
		err = writeBytes("manifest.json", manifest)
	}
	if err == nil {
		err = tw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

type layerFile struct {
	path   string
	diffID string
	size   int64
}

func diffIDs(lfs []layerFile) []string {
	var out []string
	for _, lf := range lfs {
		out = append(out, lf.diffID)
	}
	return out
}
