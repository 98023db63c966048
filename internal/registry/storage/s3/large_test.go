package s3

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/testenv"
)

// TestCopyRanges: the UploadPartCopy ranges of sources around and far
// above S3's 5 GiB copy limit cover every byte once, in order, and each
// is one S3 accepts (at most 5 GiB, at least 5 MiB but the last), within
// 10,000 parts — with the part size Compose picks for that total.
func TestCopyRanges(t *testing.T) {
	const gib = 1 << 30
	for _, size := range []int64{MinPartSize, MinPartSize + 1, 32<<20 + 1, maxCopySize, maxCopySize + 1,
		maxCopySize + MinPartSize - 1, 12 * gib, 5 << 40} {
		for _, part := range []int64{32 << 20, max(32<<20, (size+8999)/9000), maxCopySize, maxCopySize - 1} {
			rs := copyRanges(0, size, part)
			next := int64(0)
			for i, r := range rs {
				n := r[1] - r[0] + 1
				if r[0] != next || n <= 0 || n > maxCopySize || (n < MinPartSize && i != len(rs)-1) {
					t.Fatalf("size %d part %d: range %d is %v (%d bytes)", size, part, i, r, n)
				}
				next = r[1] + 1
			}
			if next != size {
				t.Fatalf("size %d part %d: ranges end at %d", size, part, next)
			}
			if part == max(32<<20, (size+8999)/9000) && len(rs) > maxParts {
				t.Fatalf("size %d: %d parts", size, len(rs))
			}
		}
	}
}

// TestObjectOver5GiB streams an object of 5 GiB and 1 MiB (zeros, so the
// test is bound by the store's ingest, not by generating data) into
// SeaweedFS as a multipart upload, renames it (Move) and composes a copy
// of it inside the store (ranged UploadPartCopy: one CopyObject cannot
// move more than 5 GiB), then reads both across the 5 GiB boundary. It
// writes about 10 GiB to the disk and takes minutes on a shared machine,
// so it runs only with BERTH_LARGE_TESTS=1; TestCopyRanges checks the
// same limits on every run without the bytes.
func TestObjectOver5GiB(t *testing.T) {
	if os.Getenv("BERTH_LARGE_TESTS") != "1" {
		t.Skip("writes 10 GiB: set BERTH_LARGE_TESTS=1")
	}
	sw := testenv.SharedSeaweedFS(t)
	ctx := context.Background()
	d, err := New(ctx, Options{Bucket: sw.Bucket(t), Endpoint: sw.Endpoint, Region: sw.Region, PathStyle: true,
		AccessKey: sw.AccessKey, SecretKey: sw.SecretKey}) // the defaults: 10 MiB parts, 32 MiB copy ranges
	if err != nil {
		t.Fatal(err)
	}
	const size = maxCopySize + 1<<20
	start := time.Now()
	info, err := d.Put(ctx, "uploads/big/chunk", io.LimitReader(zeros{}, size), storage.Cond{})
	if err != nil || info.Size != size {
		t.Fatalf("put: %+v %v", info, err)
	}
	t.Logf("put %d bytes in %v", size, time.Since(start))
	if err := d.Move(ctx, "uploads/big/chunk", "blobs/big"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if c, err := d.Compose(ctx, "blobs/big-copy", []storage.Info{{Key: "blobs/big", Size: size}}); err != nil || c.Size != size {
		t.Fatalf("compose: %+v %v", c, err)
	}
	t.Logf("composed a copy in %v", time.Since(start))
	defer func() {
		for _, k := range []string{"blobs/big", "blobs/big-copy"} {
			d.Delete(ctx, k)
		}
	}()
	for _, k := range []string{"blobs/big", "blobs/big-copy"} {
		st, err := d.Stat(ctx, k)
		if err != nil || st.Size != size {
			t.Fatalf("%s: %+v %v", k, st, err)
		}
		rd, err := d.Open(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int64{0, maxCopySize - 4096, size - 8192} {
			rd.Seek(off, io.SeekStart)
			b := make([]byte, 8192)
			if _, err := io.ReadFull(rd, b); err != nil || !bytes.Equal(b, make([]byte, 8192)) {
				t.Fatalf("%s at %d: %v", k, off, err)
			}
		}
		rd.Close()
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
