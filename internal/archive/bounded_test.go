package archive_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store/storetest"
	"github.com/berth-dev/berth/internal/testenv"
)

// TestLoadErrorsAreBounded: an error names the culprit entry but never
// repeats an untrusted name in full (a 20 KB name once, not three times),
// and a truncated compressed archive says it is truncated, in which
// compression.
func TestLoadErrorsAreBounded(t *testing.T) {
	long := strings.Repeat("x", 20<<10)
	img := testenv.Image(t, "linux/amd64", testenv.Layer(t, "eb-1"))
	src := newStore(t)
	storetest.Add(t, src, img, "docker.io/library/eb:1")
	good := save(t, src, archive.FormatDocker, archive.Entry{Image: img, Names: []string{"docker.io/library/eb:1"}})
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"long dotdot name", makeTar(t, tarEntry{name: long + "/../../evil", body: []byte("x")}), "escapes the root"},
		{"long blob name", makeTar(t, tarEntry{name: "blobs/sha256/" + long, body: []byte("x")}), "not a sha256 digest"},
		{"long duplicate", makeTar(t, tarEntry{name: long, body: []byte("x")}, tarEntry{name: long, body: []byte("x")}), "appears twice"},
		{"long link target", makeTar(t, tarEntry{name: "l", typ: '2', linkname: "../" + long}), "points outside the archive"},
	}
	for _, c := range []image.Compression{image.Gzip, image.Bzip2, image.Xz, image.Zstd} {
		z := compress(t, c, good)
		cases = append(cases, struct {
			name string
			data []byte
			want string
		}{"truncated " + string(c), z[:len(z)/2], "archive is truncated: the " + string(c) + " stream ends early"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := archive.Load(context.Background(), struct{ *bytes.Reader }{bytes.NewReader(tc.data)}, sinkOf(newStore(t)), archive.LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %.300v, want one saying %q", err, tc.want)
			}
			if n := len(err.Error()); n > 600 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is %d bytes (or several lines): %.300s…", n, err)
			}
		})
	}
}
