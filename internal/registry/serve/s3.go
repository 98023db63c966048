package serve

import (
	"context"
	"errors"
	"log/slog"

	"github.com/berth-dev/berth/internal/registry/config"
	"github.com/berth-dev/berth/internal/registry/storage"
)

func openS3(ctx context.Context, c *config.S3, log *slog.Logger) (storage.Driver, string, error) {
	return nil, "", UsageError{errors.New("storage.s3: the S3 driver is not in this build yet")}
}
