package s3_test

import (
	"context"
	"os"
	"testing"

	"github.com/berth-dev/berth/internal/registry/storage/s3"
	"github.com/berth-dev/berth/internal/registry/storage/storagetest"
	"github.com/berth-dev/berth/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

func newDriver(t *testing.T, sw *testenv.SeaweedFS, root string) *s3.Driver {
	t.Helper()
	d, err := s3.New(context.Background(), s3.Options{
		Bucket: sw.Bucket(t), Endpoint: sw.Endpoint, Region: sw.Region, PathStyle: true, Root: root,
		AccessKey: sw.AccessKey, SecretKey: sw.SecretKey, PartSize: s3.MinPartSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestContract runs the driver contract (the same suite the filesystem
// driver passes) against SeaweedFS, with objects large enough for
// multipart uploads and compositions of parts above and below S3's 5 MiB
// minimum.
func TestContract(t *testing.T) {
	sw := testenv.SharedSeaweedFS(t)
	t.Run("bucket root", func(t *testing.T) {
		storagetest.Run(t, newDriver(t, sw, ""), storagetest.Options{Large: 3*s3.MinPartSize + 1})
	})
	t.Run("root directory", func(t *testing.T) {
		storagetest.Run(t, newDriver(t, sw, "/registry/v2/"), storagetest.Options{Large: s3.MinPartSize})
	})
}
