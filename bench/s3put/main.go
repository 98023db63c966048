// Command s3put is bench/registry-s3.sh's floor for a push on S3: it
// uploads every blob of an OCI layout straight into a bucket with berth's
// S3 driver (the same client, part size and concurrency the registry
// uses), all blobs at once, and prints the seconds it took. A registry
// push through berth cannot be faster than its store ingesting the bytes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/registry/storage/s3"
)

func main() {
	layout := flag.String("layout", "", "OCI layout directory")
	endpoint := flag.String("endpoint", "", "S3 endpoint URL")
	bucket := flag.String("bucket", "", "bucket")
	flag.Parse()
	ctx := context.Background()
	d, err := s3.New(ctx, s3.Options{Bucket: *bucket, Endpoint: *endpoint, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	files, _ := filepath.Glob(filepath.Join(*layout, "blobs", "sha256", "*"))
	start := time.Now()
	var g errgroup.Group
	var total int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		total += fi.Size()
		g.Go(func() error {
			r, err := os.Open(f)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = d.Put(ctx, "floor/"+filepath.Base(f), r, storage.Cond{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%.2f %d\n", time.Since(start).Seconds(), total)
}
