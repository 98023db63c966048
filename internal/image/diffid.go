package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LayerMismatchError says that a layer's uncompressed content is not what
// the image's config lists in its diff_ids: the layer is never used.
type LayerMismatchError struct {
	Layer  v1.Hash // the blob
	DiffID v1.Hash // what the config says
	Got    v1.Hash // what the content is
	Fix    string  // what the user can do, in parentheses after the message
}

func (e *LayerMismatchError) Error() string {
	msg := fmt.Sprintf("layer %s does not match the image config: its content has digest %s, the config's diff_ids say %s", e.Layer, e.Got, e.DiffID)
	if e.Fix != "" {
		msg += " (" + e.Fix + ")"
	}
	return msg
}

// ErrLayerMismatch is matched (errors.Is) by every *LayerMismatchError.
var ErrLayerMismatch = errors.New("layer does not match the image config")

func (e *LayerMismatchError) Is(target error) bool { return target == ErrLayerMismatch }

// sourceFix is the advice for a layer that does not match its config in a
// registry.
const sourceFix = "the image is broken in its registry: rebuild it and push it again"

// checkDiffIDs makes img's layers check their uncompressed content against
// the config's diff_ids as it is read, as the local store's layers do, so
// that a registry whose layer does not match is refused by whoever reads it
// (dive, scan) with one line naming the layer. The layers' Compressed()
// streams are the blobs as the registry sends them, decompressed here by
// Decompress (gzip, zstd, bzip2, xz or plain).
func checkDiffIDs(img v1.Image) v1.Image { return &diffIDImage{Image: img} }

type diffIDImage struct{ v1.Image }

func (i *diffIDImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	cfg, err := i.Image.ConfigFile()
	if err != nil {
		return nil, err
	}
	if len(cfg.RootFS.DiffIDs) != len(ls) {
		return nil, fmt.Errorf("the image config lists %d diff_ids for %d layers", len(cfg.RootFS.DiffIDs), len(ls))
	}
	out := make([]v1.Layer, len(ls))
	for k, l := range ls {
		out[k] = &diffIDLayer{Layer: l, diffID: cfg.RootFS.DiffIDs[k]}
	}
	return out, nil
}

func (i *diffIDImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	return i.find(h, v1.Layer.Digest)
}

func (i *diffIDImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	return i.find(h, func(l v1.Layer) (v1.Hash, error) { return l.DiffID() })
}

func (i *diffIDImage) find(h v1.Hash, key func(v1.Layer) (v1.Hash, error)) (v1.Layer, error) {
	ls, err := i.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		if k, err := key(l); err == nil && k == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the image", h)
}

type diffIDLayer struct {
	v1.Layer
	diffID v1.Hash
}

// DiffID is the config's: what the content must hash to.
func (l *diffIDLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

func (l *diffIDLayer) Uncompressed() (io.ReadCloser, error) {
	digest, err := l.Layer.Digest()
	if err != nil {
		return nil, err
	}
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	zr, _, err := Decompress(rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("layer %s: %w", digest, err)
	}
	closeBoth := func() error { zr.Close(); return rc.Close() }
	return &diffIDReader{r: zr, close: closeBoth, layer: digest, want: l.diffID, h: sha256.New()}, nil
}

// diffIDReader hashes what it reads and, at the end of the stream, fails
// the read that reached it when the digest is not the diff ID. Close reads
// what the caller left, so that a reader that stopped at the tar's end is
// told too.
type diffIDReader struct {
	r     io.Reader
	close func() error
	layer v1.Hash
	want  v1.Hash
	h     hash.Hash
	err   error
	done  bool
}

func (v *diffIDReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		v.verdict()
		if v.err != nil {
			return n, v.err
		}
	} else if err != nil {
		v.err = fmt.Errorf("layer %s: %w", v.layer, err)
		return n, v.err
	}
	return n, err
}

func (v *diffIDReader) verdict() {
	v.done = true
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(v.h.Sum(nil))}
	if got != v.want {
		v.err = &LayerMismatchError{Layer: v.layer, DiffID: v.want, Got: got, Fix: sourceFix}
	} else {
		v.err = io.EOF
	}
}

func (v *diffIDReader) Close() error {
	if !v.done && v.err == nil {
		if _, err := io.Copy(io.Discard, v); err != nil {
			v.err = err
		}
	}
	err := v.err
	if err == io.EOF {
		err = nil
	}
	if cerr := v.close(); err == nil {
		err = cerr
	}
	return err
}
