package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-dev/berth/internal/analyze"
	"github.com/berth-dev/berth/internal/analyze/imagetest"
	"github.com/berth-dev/berth/internal/lint"
	"github.com/berth-dev/berth/internal/pkgcache"
)

// TestDiveAndLintAgree: for every cache the Dockerfile can show, the image
// with that cache in a layer gets dive's hint and the RUN that fills it gets
// the lint finding, naming the same rule, path and fix (both read
// internal/pkgcache).
func TestDiveAndLintAgree(t *testing.T) {
	for _, c := range pkgcache.Caches {
		if c.Rule == "" {
			continue
		}
		t.Run(c.Rule+c.Dir, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "img.tar")
			layers := []imagetest.Layer{
				{CreatedBy: "FROM base", Files: []imagetest.File{{Path: "bin/sh", Size: 10, Seed: 1}}},
				{CreatedBy: "RUN " + strings.Join(c.Fills[0], " "), Files: []imagetest.File{{Path: strings.TrimPrefix(c.Dir, "/") + "/x", Size: 4000, Seed: 2}}},
			}
			if err := imagetest.WriteDockerArchive(path, "agree:latest", dir, layers); err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := analyze.Analyze(context.Background(), img, "agree", "docker-archive", analyze.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var hint *analyze.Hint
			for i, h := range rep.Hints {
				if h.Kind == "cache" && h.Paths[0] == c.Dir {
					hint = &rep.Hints[i]
				}
			}
			if hint == nil || hint.Rule != c.Rule || !strings.Contains(hint.Message, c.Fix) {
				t.Fatalf("dive's hint for %s = %+v, want rule %s and fix %q", c.Dir, hint, c.Rule, c.Fix)
			}

			run := strings.Join(c.Fills[0], " ")
			if strings.HasPrefix(run, "-") {
				run = "python " + run
			}
			lr, err := lint.Run(context.Background(), lint.Options{Dockerfile: []byte("FROM base:1\nRUN " + run + " x\nUSER 1000\n")})
			if err != nil {
				t.Fatal(err)
			}
			var found *lint.Finding
			for i, f := range lr.Findings {
				if f.Rule == c.Rule && strings.Contains(f.Message, c.Dir) {
					found = &lr.Findings[i]
				}
			}
			if found == nil || found.Fix != c.Fix || found.Line != 2 {
				t.Fatalf("lint's finding for RUN %s = %+v, want rule %s with fix %q at line 2 (all: %+v)", run, found, c.Rule, c.Fix, lr.Findings)
			}
		})
	}
}
