package serve

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/internal/registry/config"
	"github.com/berth-dev/berth/internal/registry/storage"
	"github.com/berth-dev/berth/internal/registry/storage/s3"
)

// openS3 opens storage.s3. Credentials not in the configuration come from
// the AWS SDK's chain (AWS_ACCESS_KEY_ID, ~/.aws, instance roles).
func openS3(ctx context.Context, c *config.S3, log *slog.Logger, observe func(string, time.Duration)) (storage.Driver, string, error) {
	ep, err := config.EndpointURL(c)
	if err != nil {
		return nil, "", UsageError{err}
	}
	d, err := s3.New(ctx, s3.Options{
		Bucket: c.Bucket, Region: c.Region, Endpoint: ep, PathStyle: c.ForcePathStyle, Root: c.RootDirectory,
		AccessKey: c.AccessKey, SecretKey: c.SecretKey, SessionToken: c.SessionToken,
		PartSize: c.ChunkSize, CopyPartSize: c.MultipartCopyChunkSize, CopyThreshold: c.MultipartCopyThresholdSize,
		CopyConcurrency: c.MultipartCopyMaxConcurrency, SkipVerify: c.SkipVerify, Encrypt: c.Encrypt, KeyID: c.KeyID,
		StorageClass: c.StorageClass, ACL: c.ObjectACL, UserAgent: c.UserAgent,
		DualStack: c.UseDualStack, Accelerate: c.Accelerate, FIPS: c.UseFIPSEndpoint, Logger: log, Observe: observe,
	})
	if err != nil {
		return nil, "", err
	}
	where := "s3://" + c.Bucket
	if c.RootDirectory != "" {
		where += "/" + c.RootDirectory
	}
	if ep != "" {
		where += " at " + ep
	}
	return d, where, nil
}
