package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/sandbox"
	"github.com/berth-dev/berth/internal/scan"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

// newBuilderPruneCmd is `berth builder prune`, Docker's command for the
// build cache alone: images stay.
func (a *app) newBuilderPruneCmd() *cobra.Command {
	var all, force bool
	var filters []string
	var keep string
	cmd := &cobra.Command{
		Use:     "prune [OPTIONS]",
		Short:   "Remove build cache",
		Args:    noArgs,
		Example: "  berth builder prune -f\n  berth builder prune -a -f",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(filters) > 0 || keep != "" {
				return usageError{fmt.Errorf("berth builder prune takes no --filter or --keep-storage: the cache berth keeps is per layer, not per record")}
			}
			warning := "WARNING! This will remove all dangling build cache."
			if all {
				warning = "WARNING! This will remove all build cache."
			}
			if !force && !a.confirm(warning) {
				return nil
			}
			ctx := cmd.Context()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			freed, busy, err := pruneBuildCache(ctx, s, all)
			if err != nil {
				return err
			}
			if busy {
				fmt.Fprintln(a.stderr, "berth: a build is running; its cache was left as it is")
			}
			a.printf("Total:\t%s\n", output.HumanSize(freed))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "Remove all build cache, not just what no image uses")
	fl.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	fl.StringArrayVar(&filters, "filter", nil, "Not supported (accepted so that a wrong use says so)")
	fl.StringVar(&keep, "keep-storage", "", "Not supported (accepted so that a wrong use says so)")
	return cmd
}

// pruneBuildCache is the build-cache part of `system prune` and `builder
// prune`, wired from each package's own prune: resumable downloads nobody is
// continuing (remote), then — unless a build is running — unpacked layers
// (sandbox) and scan inventories no image in the store uses, and with all
// the step cache, RUN cache mounts and last-build records (build). It
// reports the bytes freed, and busy when a build was running.
func pruneBuildCache(ctx context.Context, st *store.Store, all bool) (freed int64, busy bool, err error) {
	root := st.Root()
	freed = remote.PrunePartial(partialDir(st))
	var inUse [][]v1.Hash
	if !all {
		if inUse, err = st.DiffIDs(ctx); err != nil {
			return freed, false, err
		}
	}
	caches := []build.Cache{scan.CacheFile(filepath.Join(root, "scan", "layers.db"))}
	if entries, err := os.ReadDir(filepath.Join(root, "snapshots", "sha256")); err == nil && len(entries) > 0 {
		snaps, err := sandbox.NewSnapshots(filepath.Join(root, "snapshots"))
		if err != nil {
			return freed, false, err
		}
		caches = append(caches, snaps)
	}
	rep, err := build.Prune(ctx, buildStateDir(st), build.PruneOptions{All: all, InUse: inUse, Caches: caches})
	return freed + rep.Reclaimed, rep.Busy, err
}

// buildCacheRecords is the build cache as `system df` counts it and `df -v`
// and GET /system/df list it: unpacked layers (sandbox), step cache
// records, RUN cache mounts and last-build records (build) and interrupted
// downloads (remote) — what pruneBuildCache reclaims. Sorted as Docker
// sorts them: least recently used first, then by ID.
func buildCacheRecords(ctx context.Context, st *store.Store) ([]build.CacheRecord, error) {
	root := st.Root()
	var recs []build.CacheRecord
	if entries, err := os.ReadDir(filepath.Join(root, "snapshots", "sha256")); err == nil && len(entries) > 0 {
		snaps, err := sandbox.NewSnapshots(filepath.Join(root, "snapshots"))
		if err != nil {
			return nil, err
		}
		for _, l := range snaps.Layers() {
			recs = append(recs, build.CacheRecord{ID: l.DiffID.Hex, Type: build.CacheRegular, Description: "unpacked layer " + l.DiffID.String(),
				Size: l.Size, Created: l.Unpacked, LastUsed: l.Unpacked})
		}
	}
	recs = append(recs, build.StateRecords(buildStateDir(st))...)
	for _, p := range remote.PartialFiles(partialDir(st)) {
		recs = append(recs, build.CacheRecord{ID: p.Name, Type: build.CacheInternal, Description: "interrupted download",
			Size: p.Size, Created: p.ModTime, LastUsed: p.ModTime})
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].LastUsed.Equal(recs[j].LastUsed) {
			return recs[i].LastUsed.Before(recs[j].LastUsed)
		}
		return recs[i].ID < recs[j].ID
	})
	return recs, nil
}

// buildStateDir is where builds keep their cache (build.Options.StateDir).
func buildStateDir(st *store.Store) string { return filepath.Join(st.Root(), "build") }
