package fsutil

import (
	"io/fs"
	"path/filepath"
)

// TreeSize is the size of the regular files under p (p itself when it is
// one); what cannot be read counts as nothing. Caches report their disk use
// with it.
func TreeSize(p string) int64 {
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
