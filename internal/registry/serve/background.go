package serve

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/config"
	"github.com/berth-dev/berth/internal/registry/storage"
)

// startBackground starts what runs beside the requests: online garbage
// collection (--gc-interval) and registry:2's upload purging
// (storage.maintenance.uploadpurging, on by default: sessions older than a
// week, checked daily).
func startBackground(ctx context.Context, c *config.Config, o Options, drv storage.Driver, log *slog.Logger) {
	readOnly := c.Storage.Maintenance.ReadOnly.Enabled
	if o.GCInterval > 0 && !readOnly {
		go every(ctx, o.GCInterval, func() {
			res, err := registry.GC(ctx, drv, registry.GCOptions{Delay: o.GCDelay, Logger: log, LeaseTTL: o.LeaseTTL})
			if err != nil {
				log.Error("garbage collection", "err", err)
				return
			}
			log.Info("garbage collection", "deleted", len(res.Items), "bytes", res.Bytes)
		})
	}
	up := c.Storage.Maintenance.UploadPurging
	if (up.Enabled == nil || *up.Enabled) && !readOnly {
		age, interval := up.Age, up.Interval
		if age <= 0 {
			age = 168 * time.Hour
		}
		if interval <= 0 {
			interval = 24 * time.Hour
		}
		go every(ctx, interval, func() {
			res, err := registry.PurgeUploads(ctx, drv, age, up.DryRun)
			if err != nil {
				log.Error("purging uploads", "err", err)
				return
			}
			if len(res.Items) > 0 {
				log.Info("purging uploads", "deleted", len(res.Items), "bytes", res.Bytes, "dry_run", up.DryRun)
			}
		})
	}
}

func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
