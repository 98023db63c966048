package lint

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLint times a check of the pattern Dockerfiles: "buildkit" is
// BuildKit's build-check pass alone (the work docker build --check does in
// buildkitd, through the same dockerfile2llb), "berth" the whole of berth
// lint (that pass, the parse for berth's model and berth's rules). The
// ratio is what berth's own rules cost on top.
func BenchmarkLint(b *testing.B) {
	dirs, err := filepath.Glob("testdata/patterns/*")
	if err != nil || len(dirs) == 0 {
		b.Fatal("no patterns", err)
	}
	for _, dir := range dirs {
		df, err := os.ReadFile(filepath.Join(dir, "good.Dockerfile"))
		if err != nil {
			b.Fatal(err)
		}
		o := Options{Dockerfile: df, Context: &Context{Names: []string{".git", "src"}}}
		b.Run(filepath.Base(dir)+"/buildkit", func(b *testing.B) {
			for b.Loop() {
				if _, err := runBuildKit(context.Background(), o, newBaseResolver(nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(filepath.Base(dir)+"/berth", func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(context.Background(), o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
