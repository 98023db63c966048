package remote

import (
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
)

// PartialSize is the disk space the interrupted downloads kept under dir
// (PullOptions.PartialDir) take.
func PartialSize(dir string) int64 { return fsutil.TreeSize(dir) }

// PartialFile is one interrupted download kept for resuming.
type PartialFile struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// PartialFiles lists the interrupted downloads kept under dir.
func PartialFiles(dir string) []PartialFile {
	entries, _ := os.ReadDir(dir)
	var out []PartialFile
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, PartialFile{Name: e.Name(), Size: fsutil.TreeSize(filepath.Join(dir, e.Name())), ModTime: fi.ModTime()})
	}
	return out
}

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
