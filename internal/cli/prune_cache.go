package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/output"
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
			freed, busy, err := a.pruneBuildCache(ctx, s, all)
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

// buildLockPath is held shared by every running build and exclusively by
// system prune while it removes build cache, so a prune never takes a layer
// or cache record from under a build.
func buildLockPath(st *store.Store) string { return filepath.Join(st.Root(), "build", "build.lock") }

// pruneBuildCache removes what `system prune` calls unused build cache:
// unpacked layers (ROOT/snapshots) no image in the store uses, and resumable
// downloads of interrupted pulls nobody is continuing. With all it also
// removes every unpacked layer, the step cache records and RUN cache mounts.
// It reports the bytes freed, and busy when a build was running (the cache
// is then left alone).
func (a *app) pruneBuildCache(ctx context.Context, st *store.Store, all bool) (freed int64, busy bool, err error) {
	root := st.Root()
	for _, p := range globFiles(filepath.Join(root, "remote", "partial", "*")) {
		unlock, ok, err := fsutil.TryLock(p)
		if err != nil || !ok {
			continue // a pull is continuing it
		}
		freed += sizeOf(p)
		os.Remove(p)
		unlock()
	}
	if err := os.MkdirAll(filepath.Dir(buildLockPath(st)), 0o755); err != nil {
		return freed, false, err
	}
	unlock, ok, err := fsutil.TryLock(buildLockPath(st))
	if err != nil {
		return freed, false, err
	}
	if !ok {
		return freed, true, nil
	}
	defer unlock()

	used := map[string]bool{}       // diff IDs (hex) of local images' layers
	usedChains := map[string]bool{} // their chain IDs
	if !all {
		imgs, err := st.Images(ctx)
		if err != nil {
			return freed, false, err
		}
		for _, img := range imgs {
			vimg, err := st.Image(ctx, img, nil)
			if err != nil {
				continue
			}
			cfg, err := vimg.ConfigFile()
			if err != nil {
				continue
			}
			diffIDs := make([]string, len(cfg.RootFS.DiffIDs))
			for i, d := range cfg.RootFS.DiffIDs {
				used[d.Hex] = true
				diffIDs[i] = d.String()
			}
			for _, c := range scan.ChainIDs(diffIDs) {
				usedChains[c] = true
			}
		}
	}
	// Scan inventories of layer stacks no local image has any more (all of
	// them with -a); scans of archives and directories fill it again.
	var keepChain func(string) bool
	if !all {
		keepChain = func(c string) bool { return usedChains[c] }
	}
	n, err := scan.PruneCache(filepath.Join(root, "scan", "layers.db"), keepChain)
	if err != nil {
		return freed, false, err
	}
	freed += n
	snapRoot := filepath.Join(root, "snapshots")
	if entries, err := os.ReadDir(filepath.Join(snapRoot, "sha256")); err == nil && len(entries) > 0 {
		snaps, err := sandbox.NewSnapshots(snapRoot)
		if err != nil {
			return freed, false, err
		}
		for _, e := range entries {
			if !e.IsDir() || used[e.Name()] {
				continue
			}
			h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
			n := sizeOf(filepath.Join(snapRoot, "sha256", e.Name()))
			if err := snaps.Remove(ctx, h); err != nil {
				return freed, false, err
			}
			freed += n
		}
	}
	if all {
		for _, dir := range []string{"cache", "mounts", "last"} {
			p := filepath.Join(root, "build", dir)
			freed += sizeOf(p)
			if err := os.RemoveAll(p); err != nil {
				return freed, false, err
			}
		}
	}
	return freed, false, nil
}

func globFiles(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}

// sizeOf is the size of the regular files under p.
func sizeOf(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
