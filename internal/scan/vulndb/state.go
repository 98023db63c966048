package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
)

// State is what berth learned about the database's exports after the
// database was written: that an origin answered "not modified". It lives in
// a small file beside the database (vuln.db.state), so that confirming a
// large database is current rewrites a few hundred bytes, not the
// database. An entry counts only while it describes the very download the
// database holds (same ETag, Last-Modified and size).
type State struct {
	Checks map[string]Check `json:"checks"` // source name -> last confirmation
}

// Check is one confirmation that an export was unchanged.
type Check struct {
	URL          string    `json:"url"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Size         int64     `json:"size"`
	Checked      time.Time `json:"checked"`
}

func statePath(dbPath string) string { return dbPath + ".state" }

// LoadState reads the state beside the database at dbPath; a missing or
// unreadable file is an empty state (it only ever saves a download).
func LoadState(dbPath string) (State, error) {
	st := State{Checks: map[string]Check{}}
	data, err := os.ReadFile(statePath(dbPath))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil || st.Checks == nil {
		return State{Checks: map[string]Check{}}, fmt.Errorf("reading %s: ignoring it: %v", statePath(dbPath), err)
	}
	return st, nil
}

func (st State) save(dbPath string) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(statePath(dbPath), data, 0o644)
}

// apply moves s's Checked time forward to a later confirmation of the same
// download.
func (st State) apply(s Source) Source {
	c, ok := st.Checks[s.Name]
	if ok && (s.Kind == KindExport || s.Mirror != "") && (c.URL == s.URL || (s.Mirror != "" && c.URL == s.Mirror)) && c.ETag == s.ETag && c.LastModified == s.LastModified && c.Size == s.Size && c.Checked.After(s.Checked) {
		s.Checked = c.Checked
	}
	return s
}
