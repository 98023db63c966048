package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sys/unix"
)

// SeaweedFS is a `weed server -s3` (SeaweedFS, Apache-2.0) on 127.0.0.1:
// the S3-compatible object store the registry's S3 tests run against. Its
// weed binary is built once from the module in test/seaweedfs into the
// user's cache directory.
type SeaweedFS struct {
	Endpoint             string // http://127.0.0.1:PORT
	AccessKey, SecretKey string
	Region               string

	dir   string
	ports []int
	mu    sync.Mutex
	cmd   *exec.Cmd
	log   *lockedWriter
	exit  chan struct{}
}

var (
	weedOnce sync.Once
	weedPath string
	weedErr  error

	sharedOnce sync.Once
	shared     *SeaweedFS
	bucketSeq  atomic.Int64
)

// weedVersion is the SeaweedFS version test/seaweedfs/go.mod pins.
func weedVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "test", "seaweedfs", "go.mod"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/seaweedfs/seaweedfs (v\S+)`).FindSubmatch(b)
	if m == nil {
		return "", errors.New("test/seaweedfs/go.mod does not require github.com/seaweedfs/seaweedfs")
	}
	return string(m[1]), nil
}

// WeedCacheDir is where built weed binaries are kept:
// ${XDG_CACHE_HOME:-$HOME/.cache}/berth.
func WeedCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "berth")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "berth")
}

// Weed returns the weed binary, building it on first use (minutes on a
// small machine; scripts/test.sh builds it before the tests). A missing
// Go toolchain or module proxy is a failure under BERTH_REQUIRE_PEERS.
func Weed(t testing.TB) string {
	t.Helper()
	weedOnce.Do(func() {
		root := ModuleRoot(t)
		ver, err := weedVersion(root)
		if err != nil {
			weedErr = err
			return
		}
		dir := WeedCacheDir()
		weedPath = filepath.Join(dir, "weed-"+ver)
		if _, err := os.Stat(weedPath); err == nil {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			weedErr = err
			return
		}
		// One build at a time across test binaries.
		lf, err := os.OpenFile(filepath.Join(dir, "weed.lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			weedErr = err
			return
		}
		defer lf.Close()
		unix.Flock(int(lf.Fd()), unix.LOCK_EX)
		if _, err := os.Stat(weedPath); err == nil {
			return
		}
		tmp := fmt.Sprintf("%s.%d", weedPath, os.Getpid())
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", tmp, "github.com/seaweedfs/seaweedfs/weed")
		cmd.Dir = filepath.Join(root, "test", "seaweedfs")
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			weedErr = fmt.Errorf("building weed: %v\n%s", err, out)
			return
		}
		weedErr = os.Rename(tmp, weedPath)
	})
	if weedErr != nil {
		if os.Getenv("BERTH_REQUIRE_PEERS") != "1" && errors.Is(weedErr, exec.ErrNotFound) {
			t.Skipf("cannot build SeaweedFS: %v", weedErr)
		}
		t.Fatal(weedErr)
	}
	return weedPath
}

// SharedSeaweedFS is one SeaweedFS for the whole test binary (it takes
// seconds to start); tests take buckets of their own with Bucket. It is
// never stopped by a test (a test that stops the engine starts its own with
// StartSeaweedFS); the package's TestMain calls StopShared.
func SharedSeaweedFS(t testing.TB) *SeaweedFS {
	t.Helper()
	sharedOnce.Do(func() {
		shared = startSeaweedFS(t, false)
	})
	if shared == nil {
		t.Fatal("SeaweedFS did not start (see the first test that asked for it)")
	}
	return shared
}

// StartSeaweedFS starts a SeaweedFS of the test's own, stopped when it ends.
func StartSeaweedFS(t testing.TB) *SeaweedFS {
	t.Helper()
	return startSeaweedFS(t, true)
}

func startSeaweedFS(t testing.TB, own bool) *SeaweedFS {
	t.Helper()
	Weed(t)
	dir, err := os.MkdirTemp("", "berth-seaweedfs-")
	if err != nil {
		t.Fatal(err)
	}
	s := &SeaweedFS{AccessKey: "berthtest", SecretKey: "berth-test-secret", Region: "us-east-1", dir: dir}
	for range 8 {
		s.ports = append(s.ports, FreePort(t))
	}
	s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(s.ports[0])
	cfg := `{"identities":[{"name":"berth","credentials":[{"accessKey":"` + s.AccessKey + `","secretKey":"` + s.SecretKey + `"}],"actions":["Admin","Read","Write","List","Tagging"]}]}`
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	if own {
		t.Cleanup(func() { s.Stop(t); os.RemoveAll(dir) })
	}
	s.Start(t)
	return s
}

// Start (re)starts the server on its ports and data, and returns once a
// signed PUT succeeds: SeaweedFS refuses writes for a while after it starts.
func (s *SeaweedFS) Start(t testing.TB) {
	t.Helper()
	bin := Weed(t)
	p := func(i int) string { return strconv.Itoa(s.ports[i]) }
	args := []string{"server", "-dir=" + filepath.Join(s.dir, "data"), "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + p(1), "-master.port.grpc=" + p(2), "-volume.port=" + p(3), "-volume.port.grpc=" + p(4),
		"-filer", "-filer.port=" + p(5), "-filer.port.grpc=" + p(6),
		"-s3", "-s3.port=" + p(0), "-s3.port.grpc=" + p(7), "-s3.config=" + filepath.Join(s.dir, "s3.json"),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false", "-metricsPort=0",
		"-filer.localSocket=" + filepath.Join(s.dir, "filer.sock"), "-s3.localSocket=" + filepath.Join(s.dir, "s3.sock"),
		"-volume.max=200", "-master.volumeSizeLimitMB=1024",
	}
	cmd := exec.Command(bin, args...)
	// Without it every bucket pre-grows several volumes and writes start
	// failing after a few buckets.
	cmd.Env = append(os.Environ(), "WEED_MASTER_VOLUME_GROWTH_COPY_1=1")
	log := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exit := make(chan struct{})
	go func() { cmd.Wait(); close(exit) }()
	s.mu.Lock()
	s.cmd, s.log, s.exit = cmd, log, exit
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := s.Client()
	probe := "berth-ready"
	for {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &probe})
		if err == nil || strings.Contains(err.Error(), "BucketAlreadyExists") || strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &probe, Key: aws.String("probe"), Body: strings.NewReader("ok")})
			if err == nil {
				return
			}
		}
		select {
		case <-exit:
			t.Fatalf("weed server exited:\n%s", tailString(log.String(), 40))
		case <-ctx.Done():
			t.Fatalf("SeaweedFS accepted no write in 90s: %v\n%s", err, tailString(log.String(), 40))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// StopShared stops the SharedSeaweedFS, if one was started, and removes its
// data; a TestMain calls it after m.Run.
func StopShared() {
	if shared != nil {
		shared.Stop(nil)
		os.RemoveAll(shared.dir)
	}
}

// Stop kills the server (its data stays for Start).
func (s *SeaweedFS) Stop(t testing.TB) {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exit
	// weed puts its gRPC sockets in /tmp, named by port, and a killed
	// weed leaves them behind.
	for _, kind := range []struct {
		name string
		port int
	}{{"master-grpc", s.ports[2]}, {"volume-grpc", s.ports[4]}, {"filer-grpc", s.ports[6]}, {"s3-grpc", s.ports[7]}} {
		os.Remove(fmt.Sprintf("/tmp/seaweedfs-%s-%d.sock", kind.name, kind.port))
	}
}

// Client is an S3 client for the server, for tests that look into the bucket.
func (s *SeaweedFS) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint), Region: s.Region, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// Bucket creates a new, empty bucket and returns its name.
func (s *SeaweedFS) Bucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%d", os.Getpid(), bucketSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// Log is what the server printed (for failure messages).
func (s *SeaweedFS) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return tailString(s.log.String(), 40)
}

type lockedWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 4<<20 {
		l.w.Reset()
	}
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
