package engineapi_test

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// BenchmarkDockerImages1000 times `docker images` through the service (the
// whole docker process: ping, GET /images/json, rendering) on a store of
// 1,000 images, next to `berth images` on the same store. Target: under
// 100 ms for docker.
//
//	go test -run X -bench DockerImages1000 -benchtime 20x ./internal/engineapi
func BenchmarkDockerImages1000(b *testing.B) {
	s := startServiceB(b)
	mk := exec.Command("go", "run", "./bench/mkimages", "-n", "1000", s.root)
	mk.Dir = testenv.ModuleRoot(b)
	if out, err := mk.CombinedOutput(); err != nil {
		b.Fatalf("bench/mkimages: %v\n%s", err, out)
	}
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
