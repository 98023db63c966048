package engineapi_test

import (
	"bytes"
	"strings"
	"testing"
)

// TestDockerCLIArchives: docker save, load and import through the service,
// through pipes, against berth's own save.
func TestDockerCLIArchives(t *testing.T) {
	s := startService(t)
	s.importImage("busybox:latest", nil, `CMD ["sh"]`)
	s.importImage("app:1", map[string]string{"etc/app": "1"})

	// The archive docker gets is byte for byte berth's.
	for _, args := range [][]string{{"busybox"}, {"busybox", "app:1"}} {
		d := s.docker(nil, append([]string{"save"}, args...)...)
		b := s.berthRun(nil, append([]string{"save"}, args...)...)
		if d.Code != 0 || b.Code != 0 || len(d.Stdout) < 1<<20 || d.Stdout != b.Stdout {
			t.Fatalf("save %v: docker exit %d (%d bytes), berth exit %d (%d bytes): %s", args, d.Code, len(d.Stdout), b.Code, len(b.Stdout), d.Stderr)
		}
	}
	archive := []byte(s.docker(nil, "save", "busybox", "app:1").Stdout)

	s.dockerOK("rmi", "busybox", "app:1")
	if got := s.berthOK("images", "-q"); got != "" {
		t.Fatalf("images left after rmi: %q", got)
	}
	r := s.docker(archive, "load")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Loaded image: busybox:latest\n") || !strings.Contains(r.Stdout, "Loaded image: app:1\n") {
		t.Fatalf("docker load: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := s.docker(archive, "load", "-q"); r.Code != 0 || !strings.Contains(r.Stdout, "Loaded image: busybox:latest") {
		t.Errorf("docker load -q: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	sameRows(t, s, "images")
	if out := s.berthOK("system", "check"); !strings.HasPrefix(out, "OK:") {
		t.Errorf("system check after load: %s", out)
	}

	// Refusals: a missing image, an archive that is not one (the store
	// unchanged after it).
	if r := s.docker(nil, "save", "nosuch:1"); r.Code != 1 || !strings.Contains(r.Stderr, "No such image: nosuch:1") {
		t.Errorf("docker save nosuch: %d %q", r.Code, r.Stderr)
	}
	before := s.berthOK("images", "--no-trunc")
	bad := append(append([]byte{}, archive[:len(archive)/2]...), bytes.Repeat([]byte{0xff}, 4096)...)
	if r := s.docker(bad, "load"); r.Code == 0 || !strings.Contains(r.Stderr, "loading") {
		t.Errorf("docker load of a cut archive: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if after := s.berthOK("images", "--no-trunc"); after != before {
		t.Errorf("a failed load changed the images:\n%s\n%s", before, after)
	}
	if out := s.berthOK("system", "check"); !strings.HasPrefix(out, "OK:") {
		t.Errorf("system check after a failed load: %s", out)
	}

	// docker import from stdin, with a change and a message.
	r = s.docker(rootfsTar(t, map[string]string{"etc/imported": "y"}), "import", "--change", "CMD [\"ls\"]", "-m", "via docker", "-", "imported:7")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "sha256:") {
		t.Fatalf("docker import: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if got := s.berthOK("inspect", "-f", "{{.ID}} {{.Config.Cmd}} {{.Comment}}", "imported:7"); got != strings.TrimSpace(r.Stdout)+" [ls] via docker\n" {
		t.Errorf("imported image: %q (docker said %q)", got, r.Stdout)
	}
}
