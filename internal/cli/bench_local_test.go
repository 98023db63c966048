package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testenv"
)

// BenchmarkImages1000 times `berth images` (a whole process) on a store
// holding 1,000 images. Target: under 50 ms.
func BenchmarkImages1000(b *testing.B) {
	root := b.TempDir()
	ctx := context.Background()
	s, err := store.Open(ctx, root)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		cfgFile := image.NewConfigFile(image.Now())
		cfgFile.Config.Labels = map[string]string{"n": fmt.Sprint(i)}
		cfg, _ := image.MarshalConfig(cfgFile)
		man, _ := image.MarshalManifest(cfg.Descriptor, nil, nil)
		for _, bl := range []image.Blob{cfg, man} {
			if err := s.WriteBlob(ctx, bl.Descriptor.Digest, bl.Descriptor.Size, bytes.NewReader(bl.Bytes)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.AddImage(ctx, man.Descriptor, fmt.Sprintf("bench/img%d:v1", i)); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	bin := testenv.Berth(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := exec.Command(bin, "--root", root, "images").Output()
		if err != nil || bytes.Count(out, []byte("\n")) != 1001 {
			b.Fatalf("images: %v (%d lines)", err, bytes.Count(out, []byte("\n")))
		}
	}
}
