package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/testenv"
)

// TestMoveRenames: on SeaweedFS, which has RenameObject, Move of a
// multipart object renames it — no copy request is sent and the store
// holds the bytes once — and the probe leaves no key behind. On a store
// whose RenameObject is refused, Move falls back to a copy.
func TestMoveRenames(t *testing.T) {
	sw := testenv.SharedSeaweedFS(t)
	ctx := context.Background()
	var mu sync.Mutex
	var actions []string
	bucket := sw.Bucket(t)
	d, err := New(ctx, Options{Bucket: bucket, Endpoint: sw.Endpoint, Region: sw.Region, PathStyle: true,
		AccessKey: sw.AccessKey, SecretKey: sw.SecretKey, PartSize: MinPartSize,
		Observe: func(a string, _ time.Duration) { mu.Lock(); actions = append(actions, a); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2*MinPartSize+77)
	rand.Read(data)
	if _, err := d.Put(ctx, "uploads/x/chunk", bytes.NewReader(data), storage.Cond{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	actions = nil
	mu.Unlock()
	if err := d.Move(ctx, "uploads/x/chunk", "blobs/sha256/ab/abc"); err != nil {
		t.Fatal(err)
	}
	if !d.renameKnown || !d.renames {
		t.Fatalf("SeaweedFS's RenameObject was not used (known %v, renames %v)", d.renameKnown, d.renames)
	}
	mu.Lock()
	for _, a := range actions {
		if a == "Writer" {
			t.Errorf("Move wrote parts: %v", actions)
		}
	}
	mu.Unlock()
	if _, err := d.Stat(ctx, "uploads/x/chunk"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("source after the rename: %v", err)
	}
	rd, err := d.Open(ctx, "blobs/sha256/ab/abc")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rd)
	rd.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("renamed object: %d bytes, want %d, equal %v", len(got), len(data), bytes.Equal(got, data))
	}
	// Nothing but the renamed object is left: the probe cleaned up.
	out, err := sw.Client().ListObjectsV2(ctx, &s3api.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	if strings.Join(keys, " ") != "blobs/sha256/ab/abc" {
		t.Errorf("bucket after the move: %v", keys)
	}

	// A store without RenameObject: the refusal is remembered and Move
	// copies instead.
	d2, err := New(ctx, Options{Bucket: bucket, Endpoint: sw.Endpoint, Region: sw.Region, PathStyle: true,
		AccessKey: sw.AccessKey, SecretKey: sw.SecretKey, PartSize: MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	d2.renameKnown, d2.renames = true, false
	if err := d2.Move(ctx, "blobs/sha256/ab/abc", "blobs/sha256/cd/cde"); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Stat(ctx, "blobs/sha256/ab/abc"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("source after the copying move: %v", err)
	}
	if st, err := d2.Stat(ctx, "blobs/sha256/cd/cde"); err != nil || st.Size != int64(len(data)) {
		t.Errorf("copied object: %+v %v", st, err)
	}
}

// TestRefused: the answers that mean "no RenameObject here" are told from
// a failure of one rename.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection refused"), false},
		{&apiErr{code: "NotImplemented"}, true},
		{&apiErr{code: "MethodNotAllowed"}, true},
		{&apiErr{code: "NoSuchKey"}, false},
		{&apiErr{code: "PreconditionFailed"}, false},
	} {
		if got := refused(tc.err); got != tc.want {
			t.Errorf("refused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

type apiErr struct{ code string }

func (e *apiErr) Error() string                 { return e.code }
func (e *apiErr) ErrorCode() string             { return e.code }
func (e *apiErr) ErrorMessage() string          { return e.code }
func (e *apiErr) ErrorFault() smithy.ErrorFault { return smithy.FaultServer }
