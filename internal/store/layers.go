package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// What the store knows about a layer blob's uncompressed content lives in
// meta/ALG/HEX, one line:
//
//	N              N bytes, counted by decompressing (digest not taken)
//	N sha256:HEX   N bytes with that digest, counted and hashed: verified
//	N trailer      N bytes as the gzip trailer claims, not yet counted
//
// A pull records the trailer's claim, which costs two small reads instead of
// decompressing the layer; the first command that decompresses the layer
// anyway (build, dive, scan, system check) counts and hashes it on the way
// and records the verified line, or refuses the layer when its digest is not
// the config's diff_id.
type layerFacts struct {
	Size    int64
	DiffID  v1.Hash // zero until hashed
	Claimed bool    // Size is the gzip trailer's claim
}

func (f layerFacts) String() string {
	s := strconv.FormatInt(f.Size, 10)
	switch {
	case f.Claimed:
		s += " trailer"
	case f.DiffID != (v1.Hash{}):
		s += " " + f.DiffID.String()
	}
	return s
}

func parseLayerFacts(b []byte) (layerFacts, bool) {
	fields := strings.Fields(string(b))
	if len(fields) == 0 || len(fields) > 2 {
		return layerFacts{}, false
	}
	n, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || n < 0 {
		return layerFacts{}, false
	}
	f := layerFacts{Size: n}
	if len(fields) == 2 {
		if fields[1] == "trailer" {
			f.Claimed = true
		} else if f.DiffID, err = v1.NewHash(fields[1]); err != nil {
			return layerFacts{}, false
		}
	}
	return f, true
}

func (s *Store) metaPath(h v1.Hash) string { return s.path("meta", h.Algorithm, h.Hex) }

func (s *Store) layerFacts(h v1.Hash) (layerFacts, bool) {
	if !validHash(h) {
		return layerFacts{}, false
	}
	b, err := os.ReadFile(s.metaPath(h))
	if err != nil {
		return layerFacts{}, false
	}
	return parseLayerFacts(b)
}

// recordLayer remembers facts about a layer blob. Best effort: a fact that
// is not kept is learnt again.
func (s *Store) recordLayer(h v1.Hash, f layerFacts) {
	os.MkdirAll(s.path("meta", h.Algorithm), 0o755)
	_ = fsutil.WriteFileAtomic(s.metaPath(h), []byte(f.String()), 0o644)
}

// LayerSize returns the uncompressed size of a layer blob. For a gzip layer
// it is, until the layer has been decompressed once, the size its trailer
// claims (see gzipClaim); otherwise it is counted by decompressing, once,
// and remembered under meta/.
func (s *Store) LayerSize(l v1.Descriptor) (int64, error) {
	if uncompressedType(l.MediaType) {
		return l.Size, nil
	}
	if f, ok := s.layerFacts(l.Digest); ok {
		return f.Size, nil
	}
	f, err := s.probeLayer(l)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	return f.Size, nil
}

// SetLayerFacts records the uncompressed size and digest of a layer blob
// that its writer counted and hashed itself (import, build): the layer is
// then verified without being read again.
func (s *Store) SetLayerFacts(h, diffID v1.Hash, n int64) {
	s.recordLayer(h, layerFacts{Size: n, DiffID: diffID})
}

func uncompressedType(mt types.MediaType) bool {
	switch mt {
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer, types.OCIUncompressedRestrictedLayer:
		return true
	}
	return false
}

// probeLayer learns a layer's size the cheapest way it can be trusted: a
// plain tar is its blob; a gzip stream whose trailer makes a plausible claim
// is taken at its word for now; anything else is decompressed and hashed.
func (s *Store) probeLayer(l v1.Descriptor) (layerFacts, error) {
	f, err := s.OpenBlob(l.Digest)
	if err != nil {
		return layerFacts{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return layerFacts{}, err
	}
	var head [6]byte
	n, _ := f.ReadAt(head[:], 0)
	c := image.DetectCompression(head[:n])
	if c == image.Uncompressed {
		facts := layerFacts{Size: st.Size(), DiffID: l.Digest}
		s.recordLayer(l.Digest, facts)
		return facts, nil
	}
	if c == image.Gzip && n >= 3 && head[2] == 8 && st.Size() >= 18 { // CM 8: deflate
		var tail [4]byte
		if _, err := f.ReadAt(tail[:], st.Size()-4); err != nil {
			return layerFacts{}, err
		}
		if size, ok := gzipClaim(binary.LittleEndian.Uint32(tail[:]), st.Size()); ok {
			facts := layerFacts{Size: size, Claimed: true}
			s.recordLayer(l.Digest, facts)
			return facts, nil
		}
	}
	// zstd (whose frames need not say their size), a gzip stream of several
	// members or of 4 GiB or more, or a trailer that cannot be true.
	return s.countLayer(f, l.Digest)
}

// gzipClaim interprets the last four bytes of a gzip blob of c bytes: the
// uncompressed size of its last member modulo 2^32 (RFC 1952's ISIZE). For
// the single-member streams every image builder writes, and content under
// 4 GiB, that is the layer's size. The claim is refused when no honest
// single-member stream could make it: smaller than what stored (verbatim)
// deflate blocks would need — 5 bytes per 64 KiB block, plus the header and
// trailer, with room for file names in the header — or larger than
// deflate's densest ratio (1032:1) allows. That rules out the members of an
// eStargz layer (whose last member is an empty footer), content of 4 GiB or
// more that does not compress, and small lies; a registry can still make a
// claim within those bounds, which the store shows until the layer is first
// decompressed.
func gzipClaim(isize uint32, c int64) (int64, bool) {
	u := int64(isize)
	minU := c - c/8192 - 1024
	maxU := c*1032 + 1024
	return u, u >= minU && u <= maxU
}

// countLayer decompresses a layer blob, counting and hashing its content,
// and records what it found.
func (s *Store) countLayer(f *os.File, h v1.Hash) (layerFacts, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return layerFacts{}, err
	}
	zr, _, err := image.Decompress(f)
	if err != nil {
		return layerFacts{}, err
	}
	defer zr.Close()
	dh := sha256.New()
	n, err := io.CopyBuffer(dh, zr, make([]byte, 256<<10))
	if err != nil {
		return layerFacts{}, err
	}
	facts := layerFacts{Size: n, DiffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(dh.Sum(nil))}}
	s.recordLayer(h, facts)
	return facts, nil
}

// LayerMismatchError says that a layer's uncompressed content is not what
// the image's config lists in its diff_ids: the layer is never used. It is
// the model's, shared with images read from registries and archives.
type LayerMismatchError = image.LayerMismatchError

// ErrLayerMismatch is matched (errors.Is) by every *LayerMismatchError.
var ErrLayerMismatch = image.ErrLayerMismatch

// storeFix is the advice for a stored layer that does not match.
const storeFix = "remove the image and pull it again"

// OpenLayer returns the uncompressed content of layer l (its compression
// recognised from the first bytes by image.Decompress) checked against
// diffID, the digest the image config lists for it. A layer known not to
// match is refused at once. A layer not verified yet is counted and hashed
// as it is read: the reader reports a mismatch instead of the end of the
// stream, and it holds back the zero bytes at the end of what it has read
// until it has verified the whole stream, so a tar reader cannot see the
// archive's end (two zero blocks) before the verdict; Close reads what the
// caller left and reports a mismatch too. Either way the size and digest
// found are recorded.
func (s *Store) OpenLayer(l v1.Descriptor, diffID v1.Hash) (io.ReadCloser, error) {
	facts, known := s.layerFacts(l.Digest)
	if known && facts.DiffID != (v1.Hash{}) && facts.DiffID != diffID {
		return nil, &LayerMismatchError{Layer: l.Digest, DiffID: diffID, Got: facts.DiffID, Fix: storeFix}
	}
	f, err := s.OpenBlob(l.Digest)
	if err != nil {
		return nil, err
	}
	var head [6]byte
	n, _ := f.ReadAt(head[:], 0)
	if image.DetectCompression(head[:n]) == image.Uncompressed {
		// A plain tar's digest is its blob's, verified when it was stored.
		if l.Digest != diffID {
			f.Close()
			return nil, &LayerMismatchError{Layer: l.Digest, DiffID: diffID, Got: l.Digest, Fix: storeFix}
		}
		return f, nil
	}
	zr, _, err := image.Decompress(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	closer := func() error { zr.Close(); return f.Close() }
	if known && facts.DiffID == diffID {
		return &readCloser{Reader: zr, close: closer}, nil
	}
	return &verifyReader{
		s: s, layer: l.Digest, want: diffID, claim: facts,
		r: zr, close: closer, h: sha256.New(), buf: make([]byte, 128<<10),
		count: newContentCounter(),
	}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// verifyReader is OpenLayer's reader of a layer not yet verified.
type verifyReader struct {
	s     *Store
	layer v1.Hash
	want  v1.Hash
	claim layerFacts // what was known before (a trailer's claim, maybe)

	r     io.Reader
	close func() error
	h     hash.Hash
	n     int64           // bytes read from r
	count *contentCounter // the files' bytes, kept with the verdict (Docker's SIZE)
	ended bool            // count is finished

	buf   []byte
	ready []byte // read from r, not yet returned; ends with a non-zero byte
	zeros int64  // zero bytes to return before ready
	held  int64  // zero bytes read after ready, held back until the verdict
	eof   bool   // r is at its end and the content matched
	err   error  // sticky: a read error or the mismatch
}

func (v *verifyReader) Read(p []byte) (int, error) {
	for {
		switch {
		case len(p) == 0:
			return 0, nil
		case v.zeros > 0:
			k := int(min(int64(len(p)), v.zeros))
			clear(p[:k])
			v.zeros -= int64(k)
			return k, nil
		case len(v.ready) > 0:
			k := copy(p, v.ready)
			v.ready = v.ready[k:]
			return k, nil
		case v.err != nil:
			return 0, v.err
		case v.eof:
			if v.held > 0 {
				v.zeros, v.held = v.held, 0
				continue
			}
			return 0, io.EOF
		}
		v.fill()
	}
}

// fill reads the next chunk of r, moving the zeros held so far before it
// when it holds data, or settling the verdict at the end of r.
func (v *verifyReader) fill() {
	k, err := v.r.Read(v.buf)
	if k > 0 {
		chunk := v.buf[:k]
		v.h.Write(chunk)
		v.count.Write(chunk)
		v.n += int64(k)
		last := len(chunk) - 1
		for last >= 0 && chunk[last] == 0 {
			last--
		}
		if last < 0 {
			v.held += int64(k)
		} else {
			v.zeros, v.held = v.held, int64(len(chunk)-1-last)
			v.ready = chunk[:last+1]
		}
	}
	switch {
	case err == io.EOF:
		v.verdict()
	case err != nil:
		v.err = fmt.Errorf("layer %s: %w", v.layer, err)
		v.endCount(v.err)
	}
}

// endCount stops the content counter, once.
func (v *verifyReader) endCount(cause error) (int64, error) {
	if v.ended {
		return 0, errors.New("counted already")
	}
	v.ended = true
	return v.count.finish(cause)
}

func (v *verifyReader) verdict() {
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(v.h.Sum(nil))}
	v.s.recordLayer(v.layer, layerFacts{Size: v.n, DiffID: got})
	if files, err := v.endCount(nil); err == nil && got == v.want {
		writeContentFigure(v.s, v.layer, files)
	}
	if v.claim.Claimed && v.claim.Size != v.n {
		// The trailer lied (or the stream has several members): the image
		// records computed from the claim are corrected.
		v.s.fixSizes(context.Background(), v.layer)
	}
	if got != v.want {
		v.err = &LayerMismatchError{Layer: v.layer, DiffID: v.want, Got: got, Fix: storeFix}
		return
	}
	v.eof = true
}

// Close reads what the caller left unread, so that a mismatch is reported
// even to a reader that stopped at the tar's end, and closes the blob.
func (v *verifyReader) Close() error {
	for !v.eof && v.err == nil {
		v.ready, v.zeros = nil, 0
		v.fill()
	}
	err := v.err
	if !v.ended {
		v.endCount(errors.New("closed"))
	}
	if cerr := v.close(); err == nil {
		err = cerr
	}
	return err
}

// VerifyLayer checks layer l against diffID, decompressing it unless the
// store verified it before, and returns its uncompressed size.
func (s *Store) VerifyLayer(ctx context.Context, l v1.Descriptor, diffID v1.Hash) (int64, error) {
	if f, ok := s.layerFacts(l.Digest); ok && f.DiffID != (v1.Hash{}) {
		if f.DiffID != diffID {
			return f.Size, &LayerMismatchError{Layer: l.Digest, DiffID: diffID, Got: f.DiffID, Fix: storeFix}
		}
		return f.Size, nil
	}
	rc, err := s.OpenLayer(l, diffID)
	if err != nil {
		return 0, err
	}
	n, err := fsutil.CopyContext(ctx, io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// VerifyImage checks every layer of the image manifest or index desc (for an
// index, the image its record describes) against its config's diff IDs,
// several layers at a time; layers verified before cost a file read.
func (s *Store) VerifyImage(ctx context.Context, desc v1.Descriptor) error {
	r, err := s.resolve(desc)
	if err != nil {
		return err
	}
	cfg, err := s.ConfigFile(r.Manifest.Config.Digest)
	if err != nil {
		return err
	}
	if len(cfg.RootFS.DiffIDs) != len(r.Manifest.Layers) {
		return fmt.Errorf("image %s: the config lists %d diff_ids for %d layers", r.Image.Digest, len(cfg.RootFS.DiffIDs), len(r.Manifest.Layers))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, l := range r.Manifest.Layers {
		g.Go(func() error {
			_, err := s.VerifyLayer(gctx, l, cfg.RootFS.DiffIDs[i])
			return err
		})
	}
	return g.Wait()
}
