package vulndb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// The database file holds four buckets:
//
//	records  id -> the validated record as binary protobuf (osv-schema's
//	         message), which decodes several times faster than its JSON
//	index    ecosystem "\x00" name -> ids, newline separated
//	meta     "sources" -> JSON []Source; "schema" -> schemaVersion
var (
	bucketRecords = []byte("records")
	bucketIndex   = []byte("index")
	bucketMeta    = []byte("meta")
	keySources    = []byte("sources")
	keySchema     = []byte("schema")
)

const schemaVersion = "berth-vulndb-2"

// ErrNoDatabase means no database has been imported or pulled yet.
var ErrNoDatabase = errors.New("no vulnerability database")

// Source describes one import into the database.
type Source struct {
	Name       string         `json:"name"`     // what the user passed: a path or a reference
	Imported   time.Time      `json:"imported"` // when it was imported
	Newest     time.Time      `json:"newest"`   // newest "modified" among its records: the data's age
	Records    int            `json:"records"`
	Ecosystems map[string]int `json:"ecosystems"` // base ecosystem -> records naming it
	Skipped    int            `json:"skipped"`    // malformed records left out
}

// Status summarises the database for `berth scan db status`.
type Status struct {
	Path    string
	Size    int64
	Records int
	Sources []Source
	Newest  time.Time // newest record modification over all sources
}

// Age is how old the newest data is at now.
func (s Status) Age(now time.Time) time.Duration {
	if s.Newest.IsZero() {
		return 0
	}
	return now.Sub(s.Newest)
}

// DB is an open database. It is not safe for concurrent use.
type DB struct {
	bolt   *bolt.DB
	path   string
	parsed map[string]*osvpb.Vulnerability
}

// Open opens the database at path read-only. A missing file is ErrNoDatabase.
func Open(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoDatabase, path)
	}
	b, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening vulnerability database %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path, parsed: map[string]*osvpb.Vulnerability{}}
	if err := db.check(); err != nil {
		b.Close()
		return nil, err
	}
	return db, ctx.Err()
}

func (db *DB) check() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil || string(m.Get(keySchema)) != schemaVersion || tx.Bucket(bucketRecords) == nil || tx.Bucket(bucketIndex) == nil {
			return fmt.Errorf("%s is not a berth vulnerability database", db.path)
		}
		return nil
	})
}

// Close releases the file.
func (db *DB) Close() error { return db.bolt.Close() }

// Status reports sources, counts and age.
func (db *DB) Status() (Status, error) {
	st := Status{Path: db.path}
	if fi, err := os.Stat(db.path); err == nil {
		st.Size = fi.Size()
	}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		st.Records = tx.Bucket(bucketRecords).Stats().KeyN
		var err error
		st.Sources, err = readSources(tx)
		return err
	})
	for _, s := range st.Sources {
		newest := s.Newest
		if newest.IsZero() {
			// Records without modification dates (the Go vulndb repository
			// leaves them zero): the import is the best age known.
			newest = s.Imported
		}
		if newest.After(st.Newest) {
			st.Newest = newest
		}
	}
	return st, err
}

func readSources(tx *bolt.Tx) ([]Source, error) {
	var out []Source
	raw := tx.Bucket(bucketMeta).Get(keySources)
	if raw == nil {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("reading database sources: %w", err)
	}
	return out, nil
}

// Candidates returns the records naming any of names in ecosystem ecoBase
// (without release suffix). The caller decides with the OSV matcher whether
// a candidate affects a package.
func (db *DB) Candidates(ecoBase string, names []string) ([]*osvpb.Vulnerability, error) {
	var ids []string
	seen := map[string]bool{}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		idx := tx.Bucket(bucketIndex)
		for _, n := range names {
			v := idx.Get([]byte(indexKey(ecoBase, NormalizeName(ecoBase, n))))
			for _, id := range strings.Split(string(v), "\n") {
				if id != "" && !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading vulnerability index: %w", err)
	}
	sort.Strings(ids)
	out := make([]*osvpb.Vulnerability, 0, len(ids))
	for _, id := range ids {
		v, err := db.Get(id)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// Get returns the record with id, or nil when the database does not hold it.
func (db *DB) Get(id string) (*osvpb.Vulnerability, error) {
	if v, ok := db.parsed[id]; ok {
		return v, nil
	}
	var raw []byte
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketRecords).Get([]byte(id)); b != nil {
			raw = append([]byte(nil), b...)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading record %s: %w", id, err)
	}
	if raw == nil {
		db.parsed[id] = nil
		return nil, nil
	}
	v := &osvpb.Vulnerability{}
	if err := proto.Unmarshal(raw, v); err != nil {
		// Import validated it; a failure now means the file was damaged.
		return nil, fmt.Errorf("record %s in %s: %w", id, db.path, err)
	}
	db.parsed[id] = v
	return v, nil
}
