package image

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Verify wraps a blob's stream so that it is checked against its
// descriptor as it is read: reading past d.Size fails at once, and the Read
// that reaches the end fails when fewer bytes came or their digest is not
// d.Digest. A source that streams blobs from somewhere it does not trust (a
// layout, an archive, a registry) hands out only such readers, so a
// tampered blob is reported rather than used by whoever reads it to the
// end. A size below zero means "unknown" and is not checked.
func Verify(rc io.ReadCloser, d v1.Descriptor) (io.ReadCloser, error) {
	var h hash.Hash
	switch d.Digest.Algorithm {
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		rc.Close()
		return nil, fmt.Errorf("blob %s: unsupported digest algorithm %q", d.Digest, d.Digest.Algorithm)
	}
	return &verifier{rc: rc, h: h, d: d}, nil
}

type verifier struct {
	rc   io.ReadCloser
	h    hash.Hash
	d    v1.Descriptor
	n    int64
	err  error
	done bool
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.d.Size >= 0 && v.n > v.d.Size {
		v.err = fmt.Errorf("blob %s does not match its descriptor: more than its %d bytes", v.d.Digest, v.d.Size)
		return n, v.err
	}
	if err == io.EOF && !v.done {
		v.done = true
		if v.d.Size >= 0 && v.n != v.d.Size {
			v.err = fmt.Errorf("blob %s does not match its descriptor: %d bytes, not %d", v.d.Digest, v.n, v.d.Size)
			return n, v.err
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.d.Digest.Hex {
			v.err = fmt.Errorf("blob %s does not match its digest (got %s:%s)", v.d.Digest, v.d.Digest.Algorithm, got)
			return n, v.err
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

// ReadVerified reads a whole small blob (a manifest, an index, a config) of
// at most max bytes and checks it against its descriptor.
func ReadVerified(rc io.ReadCloser, d v1.Descriptor, max int64) ([]byte, error) {
	if d.Size > max {
		rc.Close()
		return nil, fmt.Errorf("blob %s is %d bytes, more than the %d allowed", d.Digest, d.Size, max)
	}
	vr, err := Verify(rc, d)
	if err != nil {
		return nil, err
	}
	defer vr.Close()
	data, err := io.ReadAll(io.LimitReader(vr, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", d.Digest, max)
	}
	return data, nil
}
