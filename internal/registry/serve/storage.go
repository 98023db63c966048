package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/berth-dev/berth/internal/registry/config"
	"github.com/berth-dev/berth/internal/registry/storage"
)

// OpenStorage opens the driver the configuration names and says where it
// stores, for the startup log line.
func OpenStorage(ctx context.Context, c *config.Config, defaultRoot string, log *slog.Logger) (storage.Driver, string, error) {
	return openStorage(ctx, c, defaultRoot, log, nil)
}

// openStorage is OpenStorage with an observer of the driver's requests.
func openStorage(ctx context.Context, c *config.Config, defaultRoot string, log *slog.Logger, observe func(string, time.Duration)) (storage.Driver, string, error) {
	switch c.StorageDriver() {
	case "s3":
		return openS3(ctx, c.Storage.S3, log, observe)
	}
	root := defaultRoot
	if fs := c.Storage.Filesystem; fs != nil && fs.RootDirectory != "" {
		root = fs.RootDirectory
	}
	if root == "" {
		return nil, "", errors.New("no storage root: pass --root or storage.filesystem.rootdirectory")
	}
	drv, err := storage.NewFS(root)
	if err != nil {
		return nil, "", fmt.Errorf("%w (hint: pass a writable directory with --root)", err)
	}
	return drv, drv.Root(), nil
}

// CheckRoot fails when a filesystem root does not exist (registry gc must
// not create an empty registry where the user mistyped a path).
func CheckRoot(c *config.Config, defaultRoot string) error {
	if c.StorageDriver() != "filesystem" {
		return nil
	}
	root := defaultRoot
	if fs := c.Storage.Filesystem; fs != nil && fs.RootDirectory != "" {
		root = fs.RootDirectory
	}
	if _, err := os.Stat(root); err != nil {
		return fmt.Errorf("registry storage %s: %w", root, err)
	}
	return nil
}
