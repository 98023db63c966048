package store

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Problem is one inconsistency found by Check.
type Problem struct {
	Digest  v1.Hash
	Message string
}

func (p Problem) String() string { return p.Message }

// Check verifies every blob against its digest and every record against the
// blobs it needs. It changes nothing.
func (s *Store) Check(ctx context.Context) (blobs int, problems []Problem, err error) {
	for _, alg := range []string{"sha256", "sha512"} {
		entries, err := os.ReadDir(s.path("blobs", alg))
		if err != nil {
			continue
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return blobs, problems, err
			}
			blobs++
			h := v1.Hash{Algorithm: alg, Hex: e.Name()}
			if !validHash(h) {
				problems = append(problems, Problem{h, fmt.Sprintf("blobs/%s/%s: not a valid digest name", alg, e.Name())})
				continue
			}
			got, err := fileDigest(s.BlobPath(h), alg)
			if err != nil {
				problems = append(problems, Problem{h, fmt.Sprintf("blob %s: %v", h, err)})
				continue
			}
			if got != h.Hex {
				problems = append(problems, Problem{h, fmt.Sprintf("blob %s: content has digest %s:%s", h, alg, got)})
			}
		}
	}
	x, err := s.loadIndex()
	if err != nil {
		return blobs, append(problems, Problem{Message: err.Error()}), nil
	}
	for _, img := range x.images {
		label := img.Digest.String()
		if len(img.Names) > 0 {
			label = img.Names[0]
		}
		err := s.walk(img.Descriptor(), func(d v1.Descriptor, required bool) error {
			if required && !s.HasBlob(d.Digest) {
				problems = append(problems, Problem{d.Digest, fmt.Sprintf("image %s: missing blob %s", label, d.Digest)})
			}
			return nil
		})
		if err != nil {
			problems = append(problems, Problem{img.Digest, fmt.Sprintf("image %s: %v", label, err)})
		}
	}
	return blobs, problems, nil
}

func fileDigest(path, alg string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	if alg == "sha512" {
		h = sha512.New()
	}
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
