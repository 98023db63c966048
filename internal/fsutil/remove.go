package fsutil

import (
	"os"
	"path/filepath"
)

// RemoveAll is os.RemoveAll for trees that may hold unreadable directories
// (mode 0, which a layer may ship or a RUN step may leave behind): when the
// plain removal fails, it makes every directory accessible to its owner and
// tries again. Without that, a rootless caller could not empty such a
// directory it owns.
func RemoveAll(p string) error {
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
