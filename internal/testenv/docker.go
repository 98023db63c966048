package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// DockerEngine returns the docker CLI once the Docker Engine on this
// machine answers, the reference berth's fidelity tests compare against.
// Like any peer it skips the test when absent, and fails it under
// BERTH_REQUIRE_PEERS=1 (CI), also when the CLI is there but the daemon
// does not answer.
//
// The Engine is shared by every test run on the machine: tests name what
// they create with DockerName, and remove it by those names.
func DockerEngine(t testing.TB) string {
	t.Helper()
	docker := Peer(t, "docker")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, docker, "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		if os.Getenv("BERTH_REQUIRE_PEERS") == "1" {
			t.Fatalf("the Docker Engine does not answer (docker version: %v: %s)", err, out)
		}
		t.Skipf("the Docker Engine does not answer: %v: %s", err, out)
	}
	return docker
}

// DockerName returns a repository name no other test run uses
// ("berth-test-<prefix>-<random>"), and untags every tag of it in the
// Engine when the test ends (an image goes with its last tag).
func DockerName(t testing.TB, docker, prefix string) string {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "berth-test-" + prefix + "-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { RemoveDockerImages(docker, "reference="+name+":*", "reference=*/"+name+":*") })
	return name
}

// RemoveDockerImages untags the Engine's images that match any filter
// ("reference=…"), by name, never by ID: another run may hold the same
// image under another name.
func RemoveDockerImages(docker string, filters ...string) {
	for _, f := range filters {
		out, _ := exec.Command(docker, "images", "--filter", f, "--format", "{{.Repository}}:{{.Tag}}").Output()
		for _, n := range strings.Fields(string(out)) {
			if !strings.HasSuffix(n, ":<none>") {
				_ = exec.Command(docker, "rmi", n).Run()
			}
		}
	}
}
