package cli_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
)

// zstdFrame wraps data in one zstd frame whose header asks for a window of
// 1<<log bytes, as a single raw block (RFC 8878 3.1.1): what a hostile
// context declares to make the decoder reserve that much memory.
func zstdFrame(log int, data []byte) []byte {
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte(log-10) << 3}
	h := uint32(len(data))<<3 | 1
	out = append(out, byte(h), byte(h>>8), byte(h>>16))
	return append(out, data...)
}

// A build context read from stdin or a URL is decompressed with the same
// bound `load` applies: a zstd window up to 128 MiB is read, a larger one
// is refused with a one-line error, never allocated.
func TestBuildContextZstdWindow(t *testing.T) {
	ctxTar := tarOf(map[string]string{"Dockerfile": "FROM scratch\nCOPY hello /hello\n", "hello": "hi"}).Bytes()
	// /W/ctx.tar.zst serves the context with a window of 1<<W bytes.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var log int
		fmt.Sscanf(r.URL.Path, "/%d/", &log)
		w.Header().Set("Content-Type", "application/zstd")
		w.Write(zstdFrame(log, ctxTar))
	}))
	defer srv.Close()
	bin := testenv.Berth(t)
	for _, tc := range []struct {
		name   string
		window int
		ok     bool
	}{
		{"128 MiB window", 27, true},
		{"256 MiB window", 28, false},
	} {
		for _, from := range []string{"stdin", "url"} {
			t.Run(tc.name+" from "+from, func(t *testing.T) {
				args := []string{"--root", t.TempDir(), "build", "-q", "-t", "zctx:1"}
				stdin := bytes.NewReader(nil)
				if from == "stdin" {
					args, stdin = append(args, "-"), bytes.NewReader(zstdFrame(tc.window, ctxTar))
				} else {
					args = append(args, fmt.Sprintf("%s/%d/ctx.tar.zst", srv.URL, tc.window))
				}
				r := testenv.Run(t, bin, testenv.Cmd{Args: args, Stdin: stdin})
				if tc.ok {
					if r.Code != 0 || !strings.HasPrefix(r.Stdout, "sha256:") {
						t.Fatalf("exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
					}
					return
				}
				if r.Code != 1 || !strings.Contains(r.Stderr, "decoder memory") || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
					t.Fatalf("exit %d, want 1 and a one-line decoder memory error:\n%s", r.Code, r.Stderr)
				}
			})
		}
	}
}
