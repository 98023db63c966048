package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"

	"github.com/berth-dev/berth/internal/image"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// dataEntry is a data entry of an archive that can be read at will: a
// section of a file, or a file of a directory.
type dataEntry struct {
	name string
	size int64
	want v1.Hash // from the entry's path (blobs/sha256/…), or zero
	open func() (io.ReadCloser, error)
}

// loadIndexed reads a seekable uncompressed archive in two passes. First
// the tar headers (the reader seeks past the data) and the metadata, then
// the manifests the metadata reaches, read at their offsets: what the
// archive needs is known before anything is stored. Then the needed blobs,
// each a section of the file read with pread on its own goroutine, are
// hashed and stored in parallel, one per core.
func (l *loader) loadIndexed(ctx context.Context, src io.ReaderAt, base int64) ([]Loaded, error) {
	sr := io.NewSectionReader(src, base, math.MaxInt64-base)
	tr := tar.NewReader(sr)
	var ents []dataEntry
	last := ""
	for {
		hdr, err := next(ctx, tr, last)
		if err != nil {
			return nil, err
		}
		if hdr == nil {
			break
		}
		last = hdr.Name
		kind, name, want, err := l.header(hdr)
		if err != nil {
			return nil, err
		}
		switch kind {
		case kindMeta:
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, truncated(err))
			}
			if err := l.addMeta(name, b); err != nil {
				return nil, err
			}
		case kindData:
			off, _ := sr.Seek(0, io.SeekCurrent)
			off += base
			size := hdr.Size
			ents = append(ents, dataEntry{name: name, size: size, want: want, open: func() (io.ReadCloser, error) {
				return io.NopCloser(&exactReader{r: io.NewSectionReader(src, off, size), n: size}), nil
			}})
		}
	}
	return l.storeNeeded(ctx, ents)
}

// storeNeeded learns everything the archive needs from the manifests its
// metadata reaches, read in place, decides about every entry before
// storing any (so that a contradiction costs no bytes, and an entry nothing
// references costs none either), then stores the needed ones in parallel
// and resolves the images.
func (l *loader) storeNeeded(ctx context.Context, ents []dataEntry) ([]Loaded, error) {
	byName := map[string]dataEntry{}
	for _, e := range ents {
		byName[e.name] = e
	}
	for {
		var ready []pendingDesc
		for _, p := range l.needs.pending {
			if _, ok := byName[blobPath("sha256", p.d.Digest.Hex)]; ok {
				ready = append(ready, p)
			}
		}
		if len(ready) == 0 {
			break
		}
		for _, p := range ready {
			raw := readVerified(byName[blobPath("sha256", p.d.Digest.Hex)], p.d.Digest)
			if err := l.needs.expand(p, raw); err != nil {
				return nil, refusing(err)
			}
		}
	}
	l.needs.final = true
	var keep []dataEntry
	for _, e := range ents {
		store, _, err := l.decide(e.name, e.size)
		if err != nil {
			return nil, err
		}
		if store {
			keep = append(keep, e)
		} else {
			l.log.Debug("skipping an entry nothing references", "entry", e.name, "bytes", e.size)
		}
	}
	gctx := l.begin(ctx)
	for _, e := range keep {
		l.g.Go(func() error {
			rc, err := e.open()
			if err != nil {
				return err
			}
			defer rc.Close()
			br := bufio.NewReaderSize(rc, 64<<10)
			head, _ := br.Peek(6)
			return l.put(gctx, e.name, e.want, e.size, image.DetectCompression(head), br)
		})
	}
	if err := l.finish(nil); err != nil {
		return nil, err
	}
	return l.resolve(ctx)
}

// readVerified reads a small entry that should hold the blob h, or returns
// nil when it is too large for a manifest or is not h (the store refuses it
// later, naming the entry).
func readVerified(e dataEntry, h v1.Hash) []byte {
	if e.size > maxManifest {
		return nil
	}
	rc, err := e.open()
	if err != nil {
		return nil
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != h.Hex {
		return nil
	}
	return b
}
