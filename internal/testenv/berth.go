package testenv

import (
	"archive/tar"
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// BusyboxRootfs is a root file system tar holding Debian's static busybox
// (with sh, ls, cat, echo, true, mkdir, rm and touch linked to it) and the
// extra regular files given, for `berth import`.
func BusyboxRootfs(t testing.TB, extra map[string]string) []byte {
	t.Helper()
	bb, err := os.ReadFile(BusyboxStatic(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "tmp/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, l := range []string{"sh", "ls", "cat", "echo", "true", "mkdir", "rm", "touch"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + l, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	for name, content := range extra {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))})
		tw.Write([]byte(content))
	}
	check(t, tw.Close())
	return buf.Bytes()
}

// BerthRegistry starts `berth registry serve` (bin) on a free loopback port
// with the extra flags given, stops it when the test ends, and returns its
// host:port once it answers /v2/.
func BerthRegistry(t testing.TB, bin string, flags ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, append([]string{"registry", "serve", "--addr", addr, "--root", t.TempDir()}, flags...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("registry did not start")
	return ""
}
