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
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Problem is one inconsistency found by Check.
type Problem struct {
	Digest  v1.Hash
	Message string
}

func (p Problem) String() string { return p.Message }

// Check verifies every blob against its digest, every record against the
// blobs it needs, and every layer of every image against the diff ID its
// config lists (decompressing the layers not verified before). It changes
// nothing but the layer facts it learns (meta/).
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
	lp, err := s.checkLayers(ctx, x)
	return blobs, append(problems, lp...), err
}

// checkLayers verifies each layer of each image manifest the records reach
// against its config's diff ID, several layers at a time.
func (s *Store) checkLayers(ctx context.Context, x *index) ([]Problem, error) {
	type task struct {
		label  string
		layer  v1.Descriptor
		diffID v1.Hash
	}
	var tasks []task
	seen := map[[2]v1.Hash]bool{}
	for _, img := range x.images {
		label := img.Digest.String()
		if len(img.Names) > 0 {
			label = img.Names[0]
		}
		_ = s.walk(img.Descriptor(), func(d v1.Descriptor, _ bool) error {
			if !d.MediaType.IsImage() || !s.HasBlob(d.Digest) {
				return nil
			}
			m, err := s.Manifest(d.Digest)
			if err != nil || !s.HasBlob(m.Config.Digest) {
				return nil // reported above
			}
			cfg, err := s.ConfigFile(m.Config.Digest)
			if err != nil {
				return nil
			}
			for i, l := range m.Layers {
				if i >= len(cfg.RootFS.DiffIDs) || !s.HasBlob(l.Digest) {
					continue
				}
				key := [2]v1.Hash{l.Digest, cfg.RootFS.DiffIDs[i]}
				if !seen[key] {
					seen[key] = true
					tasks = append(tasks, task{label, l, cfg.RootFS.DiffIDs[i]})
				}
			}
			return nil
		})
	}
	probs := make([]*Problem, len(tasks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, t := range tasks {
		g.Go(func() error {
			if _, err := s.VerifyLayer(gctx, t.layer, t.diffID); err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				probs[i] = &Problem{t.layer.Digest, fmt.Sprintf("image %s: %v", t.label, err)}
			}
			return nil
		})
	}
	err := g.Wait()
	var out []Problem
	for _, p := range probs {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out, err
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
