package remote

import (
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/fsutil"
)

// PartialSize is the disk space the interrupted downloads kept under dir
// (PullOptions.PartialDir) take.
func PartialSize(dir string) int64 { return fsutil.TreeSize(dir) }

// PrunePartial removes the interrupted downloads under dir that no pull is
// continuing (a pull holds its file's lock) and reports the bytes freed.
func PrunePartial(dir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var freed int64
	for _, p := range files {
		unlock, ok, err := fsutil.TryLock(p)
		if err != nil || !ok {
			continue // a pull is continuing it
		}
		freed += fsutil.TreeSize(p)
		os.Remove(p)
		unlock()
	}
	return freed
}
