package engineapi_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// client talks HTTP to the service's socket, as SDKs do.
func (s *service) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", s.sock)
	}}}
}

func (s *service) request(t *testing.T, method, path string, hdr http.Header, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://berth"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := s.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func tarOf(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range entries {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

func TestHostileRequests(t *testing.T) {
	s := startService(t)
	s.importImage("busybox:latest", nil)
	before := s.berthOK("images", "--no-trunc")
	outside := filepath.Dir(s.root)

	t.Run("context with .. entries", func(t *testing.T) {
		ctxTar := tarOf(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY . /\n", "../../escaped": "x", "a/../../escaped2": "y"})
		code, body := s.request(t, "POST", "/v1.50/build?t=evil:1", http.Header{"Content-Type": {"application/x-tar"}}, bytes.NewReader(ctxTar))
		if code == 200 && !strings.Contains(body, `"errorDetail"`) {
			t.Fatalf("a context with .. entries was built: %d %s", code, body)
		}
		if !strings.Contains(body, "escaped") {
			t.Errorf("the error does not name the entry: %s", body)
		}
		for _, p := range []string{filepath.Join(outside, "escaped"), filepath.Join(outside, "escaped2"), filepath.Join(s.root, "build", "escaped")} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s was written", p)
			}
		}
	})
	t.Run("path tricks in names", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			want         int
		}{
			// Not names at all: the daemon's 400 "invalid reference format".
			{"GET", "/images/../../../etc/passwd/json", 400},
			{"GET", "/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd/json", 400},
			{"GET", "/images/busybox%00/json", 400},
			{"DELETE", "/images/..%2F..%2Findex.json", 400},
			{"GET", "/images/get?names=../../../../etc/passwd", 400},
			{"GET", "/images/sha256:0000/json", 404},
			{"POST", "/images/busybox/tag?repo=../../evil&tag=1", 400},
			{"POST", "/images/busybox/tag?repo=evil&tag=../x", 400},
		} {
			code, body := s.request(t, tc.method, tc.path, nil, nil)
			if code != tc.want || !strings.HasPrefix(body, `{"message":`) {
				t.Errorf("%s %s: %d %s, want %d with a message", tc.method, tc.path, code, body, tc.want)
			}
		}
	})
	t.Run("oversized headers", func(t *testing.T) {
		code, _ := s.request(t, "GET", "/_ping", http.Header{"X-Registry-Auth": {strings.Repeat("A", 2<<20)}}, nil)
		if code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", code)
		}
	})
	t.Run("bad filters and versions", func(t *testing.T) {
		for path, want := range map[string]int{
			"/images/json?filters=%7Bnope":                           400,
			"/images/json?filters=%7B%22bogus%22%3A%5B%5D%7D":        200, // a key with no values filters nothing
			"/images/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D": 400,
			"/v99.0/images/json":                                     400,
		} {
			if code, body := s.request(t, "GET", path, nil, nil); code != want {
				t.Errorf("%s: %d %s, want %d", path, code, body, want)
			}
		}
	})
	if after := s.berthOK("images", "--no-trunc"); after != before {
		t.Errorf("hostile requests changed the images:\n%s\n%s", before, after)
	}
	if out := s.berthOK("system", "check"); !strings.HasPrefix(out, "OK:") {
		t.Errorf("system check: %s", out)
	}
}

// TestBuildClientGoesAway: a client that disconnects mid-build cancels the
// build; nothing is tagged and no build directory is left, and the service
// goes on serving.
func TestBuildClientGoesAway(t *testing.T) {
	s := startService(t)
	s.importImage("busybox:latest", nil)
	ctxTar := tarOf(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 30\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://berth/v1.50/build?t=slow:1", bytes.NewReader(ctxTar))
	resp, err := s.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "started") {
			break
		}
	}
	cancel() // the client goes away while RUN sleeps
	resp.Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(s.root, "build", "tmp", "build-*"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("build directories left after the client went away: %v\n%s", left, s.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := s.berthRun(nil, "inspect", "slow:1"); r.Code == 0 {
		t.Error("the cancelled build was tagged")
	}
	if code, body := s.request(t, "GET", "/_ping", nil, nil); code != 200 || body != "OK" {
		t.Errorf("service after a cancelled build: %d %s", code, body)
	}
}
