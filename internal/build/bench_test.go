package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkContextHashWarm measures what a no-change rebuild pays for a
// `COPY . /app` of 2,000 files: a walk, a stat per file and index lookups,
// no file reads.
func BenchmarkContextHashWarm(b *testing.B) {
	dir, state := b.TempDir(), b.TempDir()
	for i := 0; i < 2000; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%20), fmt.Sprintf("f%d.go", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(fmt.Sprintf("package p // %d\n", i)), 0o644)
	}
	hashAll := func() {
		c := newContextFS(dir, nil, state)
		ents, err := c.match(".")
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range c.under(ents[0].rel) {
			if _, err := c.digestOf(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.save(); err != nil {
			b.Fatal(err)
		}
	}
	hashAll() // fills the index
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hashAll()
	}
}
