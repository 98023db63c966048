package engineapi_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
)

// BenchmarkDockerImages1000 times `docker images` through the service (the
// whole docker process: ping, GET /images/json, rendering) on a store of
// 1,000 images, next to `berth images` on the same store. Target: under
// 100 ms for docker.
//
//	go test -run X -bench DockerImages1000 -benchtime 20x ./internal/engineapi
func BenchmarkDockerImages1000(b *testing.B) {
	s := startServiceB(b)
	ctx := context.Background()
	st, err := store.Open(ctx, s.root)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		cfgFile := image.NewConfigFile(image.Now())
		cfgFile.Config.Labels = map[string]string{"n": fmt.Sprint(i)}
		cfg, _ := image.MarshalConfig(cfgFile)
		man, _ := image.MarshalManifest(cfg.Descriptor, nil, nil)
		for _, bl := range []image.Blob{cfg, man} {
			if err := st.WriteBlob(ctx, bl.Descriptor.Digest, bl.Descriptor.Size, bytes.NewReader(bl.Bytes)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := st.AddImage(ctx, man.Descriptor, fmt.Sprintf("bench/img%d:v1", i)); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	check := func(out []byte, err error) {
		if err != nil || bytes.Count(out, []byte("\n")) != 1001 {
			b.Fatalf("images: %v (%d lines)", err, bytes.Count(out, []byte("\n")))
		}
	}
	b.Run("docker-through-service", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(dockerCLI(b), "images")
			cmd.Env = s.dockerEnvList()
			check(cmd.Output())
		}
	})
	b.Run("berth-direct", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			check(exec.Command(s.berth, "--root", s.root, "images").Output())
		}
	})
}
