package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Layer is a layer of the image being built, by its descriptor; its bytes
// are in a BlobStore (or in the base image).
type Layer struct {
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diffID"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"mediaType"`
}

// blobLayer is a Layer readable from a BlobStore, as a go-containerregistry
// v1.Layer (via partial.CompressedToLayer).
type blobLayer struct {
	l     Layer
	blobs BlobStore
}

func (b *blobLayer) Digest() (v1.Hash, error)            { return b.l.Digest, nil }
func (b *blobLayer) DiffID() (v1.Hash, error)            { return b.l.DiffID, nil }
func (b *blobLayer) Size() (int64, error)                { return b.l.Size, nil }
func (b *blobLayer) MediaType() (types.MediaType, error) { return b.l.MediaType, nil }
func (b *blobLayer) Compressed() (io.ReadCloser, error)  { return b.blobs.OpenBlob(b.l.Digest) }

func (b *Builder) v1Layer(l Layer) v1.Layer {
	if src, ok := b.baseLayers.Load(l.Digest); ok {
		return src.(v1.Layer)
	}
	vl, _ := partial.CompressedToLayer(&blobLayer{l: l, blobs: b.opts.Blobs})
	return vl
}

// layerWriter streams one new layer: tar entries in, hashed and compressed
// into the BlobStore. Timestamps are clamped to the epoch when one is set.
type layerWriter struct {
	tw      *tar.Writer
	pw      *io.PipeWriter
	diff    hashCounter
	comp    io.WriteCloser
	done    chan putResult
	epoch   *time.Time
	entries int
	zstd    bool
	// The headers written, kept as this layer's scan so later steps need
	// not read the layer back (COPY --from, --chown names, WORKDIR).
	scan layerScan
	cur  string
	b    *Builder
}

type putResult struct {
	h    v1.Hash
	size int64
	err  error
}

type hashCounter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	w io.Writer
	n int64
}

func (h *hashCounter) Write(p []byte) (int, error) {
	h.h.Write(p)
	h.n += int64(len(p))
	return h.w.Write(p)
}

func (b *Builder) newLayerWriter(ctx context.Context) (*layerWriter, error) {
	pr, pw := io.Pipe()
	lw := &layerWriter{pw: pw, done: make(chan putResult, 1), epoch: b.opts.Epoch, zstd: b.opts.Zstd, b: b}
	go func() {
		h, n, err := b.opts.Blobs.PutBlob(ctx, v1.Hash{}, pr)
		pr.CloseWithError(err)
		lw.done <- putResult{h, n, err}
	}()
	var err error
	if b.opts.Zstd {
		// One encoder goroutine keeps the output identical run to run.
		lw.comp, err = zstd.NewWriter(pw, zstd.WithEncoderConcurrency(1))
	} else {
		var gz *gzip.Writer
		gz, err = gzip.NewWriterLevel(pw, gzip.DefaultCompression)
		lw.comp = gz
	}
	if err != nil {
		pw.CloseWithError(err)
		<-lw.done
		return nil, err
	}
	lw.diff = hashCounter{h: sha256.New(), w: lw.comp}
	lw.tw = tar.NewWriter(&lw.diff)
	return lw, nil
}

// WriteHeader writes a normalised header: no atime/ctime, whole seconds,
// clamped to the epoch, no user/group names.
func (lw *layerWriter) WriteHeader(hdr *tar.Header) error {
	h := *hdr
	h.ModTime = h.ModTime.Truncate(time.Second)
	if lw.epoch != nil && (h.ModTime.IsZero() || h.ModTime.After(*lw.epoch)) {
		h.ModTime = *lw.epoch
	}
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	h.Uname, h.Gname = "", ""
	h.Format = tar.FormatUnknown
	if h.PAXRecords != nil {
		// Keep extended attributes only.
		rec := map[string]string{}
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				rec[k] = v
			}
		}
		h.PAXRecords = rec
	}
	lw.entries++
	if err := lw.tw.WriteHeader(&h); err != nil {
		return err
	}
	kept := h
	if name, err := fsutil.CleanTarName(h.Name); err == nil {
		kept.Name = name
	}
	lw.scan.hdrs = append(lw.scan.hdrs, &kept)
	lw.cur = ""
	if (kept.Name == "etc/passwd" || kept.Name == "etc/group") && h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
		lw.cur = kept.Name
		if kept.Name == "etc/passwd" {
			lw.scan.passwd = []byte{}
		} else {
			lw.scan.group = []byte{}
		}
	}
	return nil
}

func (lw *layerWriter) Write(p []byte) (int, error) {
	switch lw.cur {
	case "etc/passwd":
		lw.scan.passwd = append(lw.scan.passwd, p...)
	case "etc/group":
		lw.scan.group = append(lw.scan.group, p...)
	}
	return lw.tw.Write(p)
}

// Abort discards the layer.
func (lw *layerWriter) Abort(err error) {
	if err == nil {
		err = errors.New("layer aborted")
	}
	lw.pw.CloseWithError(err)
	<-lw.done
}

// Close finishes the layer; ok is false when it had no entries (the step
// then has no layer, as an empty_layer history entry).
func (lw *layerWriter) Close() (Layer, bool, error) {
	if err := lw.tw.Close(); err != nil {
		lw.Abort(err)
		return Layer{}, false, err
	}
	if err := lw.comp.Close(); err != nil {
		lw.Abort(err)
		return Layer{}, false, err
	}
	lw.pw.Close()
	res := <-lw.done
	if res.err != nil {
		return Layer{}, false, fmt.Errorf("storing layer: %w", res.err)
	}
	mt := types.OCILayer
	if lw.zstd {
		mt = types.OCILayerZStd
	}
	l := Layer{
		Digest:    res.h,
		DiffID:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(lw.diff.h.Sum(nil))},
		Size:      res.size,
		MediaType: mt,
	}
	if rec, ok := lw.b.opts.Blobs.(LayerRecorder); ok {
		rec.RecordLayer(l.Digest, l.DiffID, lw.diff.n)
	}
	scan := lw.scan
	lw.b.scans.Store(l.DiffID, &scan)
	return l, lw.entries > 0, nil
}
