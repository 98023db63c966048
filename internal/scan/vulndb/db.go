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

// The database file holds, per source (an osv.dev ecosystem export or a
// path imported by hand), its own bucket, so that one source is replaced
// without touching the others:
//
//	meta      "schema" -> schemaVersion; "sources" -> JSON []Source
//	sources   NAME -> bucket of one source:
//	            records   id -> the validated record as binary protobuf
//	                      (osv-schema's message), which decodes several
//	                      times faster than its JSON
//	            index     ecosystem "\x00" name -> ids, newline separated
//	            severity  id -> severity stubs (length-prefixed protobuf
//	                      records holding id, aliases and severity only):
//	                      the records naming id as an alias, and records
//	                      kept only for their severity (ecosystems berth
//	                      does not match, such as GIT's CVE records)
var (
	bucketMeta     = []byte("meta")
	bucketSources  = []byte("sources")
	bucketRecords  = []byte("records")
	bucketIndex    = []byte("index")
	bucketSeverity = []byte("severity")
	keySources     = []byte("sources")
	keySchema      = []byte("schema")
)

const schemaVersion = "berth-vulndb-3"

// ErrNoDatabase means no database has been imported, fetched or pulled yet.
var ErrNoDatabase = errors.New("no vulnerability database")

// Kinds of source.
const (
	KindImport = "import" // a path given to `berth scan db import`
	KindExport = "export" // an osv.dev-style <base>/<Ecosystem>/all.zip
)

// Source describes one source of records in the database.
type Source struct {
	Name       string         `json:"name"`           // its key: the imported path, or the ecosystem of an export
	Kind       string         `json:"kind,omitempty"` // KindImport (the default) or KindExport
	Bucket     string         `json:"bucket"`         // the bucket holding its records
	Imported   time.Time      `json:"imported"`       // when its records were written
	Newest     time.Time      `json:"newest"`         // newest "modified" among its records: the data's age
	Records    int            `json:"records"`        // records kept whole
	Severities int            `json:"severities,omitempty"`
	Ecosystems map[string]int `json:"ecosystems"` // base ecosystem -> records naming it
	Skipped    int            `json:"skipped"`    // malformed records left out

	// An export also records where it came from and what the server said
	// about it, to verify and to ask "has it changed?" next time.
	URL          string `json:"url,omitempty"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Size         int64  `json:"size,omitempty"`
	// Checked is when the export was last confirmed current at its origin
	// (its download, or a later "not modified"); see State.
	Checked time.Time `json:"checked,omitzero"`
	// Mirror is the OCI mirror (REF@DIGEST) the source was taken from, when
	// it was; its origin is then that mirror.
	Mirror string `json:"mirror,omitempty"`
}

// Fresh is the time up to which the source is known current: an export's
// last check, an import's newest record (its import time when the records
// carry no dates, as the Go vulndb repository's do not).
func (s Source) Fresh() time.Time {
	if s.Kind == KindExport || s.Mirror != "" {
		if !s.Checked.IsZero() {
			return s.Checked
		}
		return s.Imported
	}
	if !s.Newest.IsZero() {
		return s.Newest
	}
	return s.Imported
}

// Status summarises the database for `berth scan db status`.
type Status struct {
	Path    string
	Size    int64
	Records int
	Sources []Source
	Newest  time.Time // the freshest source's Fresh time
	Oldest  time.Time // the stalest source's Fresh time
}

// Age is how old the newest data is at now.
func (s Status) Age(now time.Time) time.Duration {
	if s.Newest.IsZero() {
		return 0
	}
	return now.Sub(s.Newest)
}

// Covers reports whether some source holds records of ecosystem ecoBase,
// and the freshest such source's Fresh time.
func (s Status) Covers(ecoBase string) (time.Time, bool) {
	var fresh time.Time
	ok := false
	for _, src := range s.Sources {
		if src.Ecosystems[ecoBase] > 0 || (src.Kind == KindExport && src.Name == ecoBase) {
			ok = true
			if f := src.Fresh(); f.After(fresh) {
				fresh = f
			}
		}
	}
	return fresh, ok
}

// Source returns the source named name.
func (s Status) Source(name string) (Source, bool) {
	for _, src := range s.Sources {
		if src.Name == name {
			return src, true
		}
	}
	return Source{}, false
}

// DB is an open database: a read-only view of the file as it was when it
// was opened. An update renames a new file over it; this view keeps
// reading the old one to its end. It is not safe for concurrent use.
type DB struct {
	bolt    *bolt.DB
	tx      *bolt.Tx
	path    string
	sources []openSource // newest import first: its records win
	parsed  map[string]*osvpb.Vulnerability
	stubs   map[string][]*osvpb.Vulnerability
}

type openSource struct {
	Source
	records, index, severity *bolt.Bucket
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
	db := &DB{bolt: b, path: path, parsed: map[string]*osvpb.Vulnerability{}, stubs: map[string][]*osvpb.Vulnerability{}}
	if err := db.begin(); err != nil {
		b.Close()
		return nil, err
	}
	return db, ctx.Err()
}

// ErrSchema means the file is a database of another berth version or not
// one at all; an update starts a new one.
var ErrSchema = errors.New("not a database this berth reads")

func (db *DB) begin() error {
	tx, err := db.bolt.Begin(false)
	if err != nil {
		return fmt.Errorf("reading vulnerability database %s: %w", db.path, err)
	}
	if err := checkSchema(tx); err != nil {
		tx.Rollback()
		return fmt.Errorf("%s: %w", db.path, err)
	}
	sources, err := readSources(tx)
	if err != nil {
		tx.Rollback()
		return err
	}
	all := tx.Bucket(bucketSources)
	for i := len(sources) - 1; i >= 0; i-- {
		s := sources[i]
		b := all.Bucket([]byte(s.bucketName()))
		if b == nil {
			tx.Rollback()
			return fmt.Errorf("%s: source %s has no records bucket", db.path, s.Name)
		}
		db.sources = append(db.sources, openSource{Source: s, records: b.Bucket(bucketRecords), index: b.Bucket(bucketIndex), severity: b.Bucket(bucketSeverity)})
	}
	db.tx = tx
	return nil
}

func checkSchema(tx *bolt.Tx) error {
	m := tx.Bucket(bucketMeta)
	if m == nil || tx.Bucket(bucketSources) == nil {
		return fmt.Errorf("%w: it is not a berth vulnerability database", ErrSchema)
	}
	if s := string(m.Get(keySchema)); s != schemaVersion {
		return fmt.Errorf("%w: it has schema %q, this berth reads %q", ErrSchema, s, schemaVersion)
	}
	return nil
}

// Close releases the file.
func (db *DB) Close() error {
	if db.tx != nil {
		db.tx.Rollback()
		db.tx = nil
	}
	return db.bolt.Close()
}

// Status reports sources, counts and age. Checked times from the state
// file beside the database (see LoadState) are applied.
func (db *DB) Status() (Status, error) {
	st := Status{Path: db.path}
	if fi, err := os.Stat(db.path); err == nil {
		st.Size = fi.Size()
	}
	state, _ := LoadState(db.path)
	for i := len(db.sources) - 1; i >= 0; i-- {
		s := state.apply(db.sources[i].Source)
		st.Sources = append(st.Sources, s)
		st.Records += s.Records
	}
	for i, s := range st.Sources {
		f := s.Fresh()
		if f.After(st.Newest) {
			st.Newest = f
		}
		if i == 0 || f.Before(st.Oldest) {
			st.Oldest = f
		}
	}
	return st, nil
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
	for _, s := range db.sources {
		if s.Ecosystems[ecoBase] == 0 {
			continue
		}
		for _, n := range names {
			v := s.index.Get([]byte(indexKey(ecoBase, NormalizeName(ecoBase, n))))
			for _, id := range strings.Split(string(v), "\n") {
				if id != "" && !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
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

// Get returns the record with id, or nil when the database does not hold
// it whole. The most recently imported source holding it wins.
func (db *DB) Get(id string) (*osvpb.Vulnerability, error) {
	if v, ok := db.parsed[id]; ok {
		return v, nil
	}
	var raw []byte
	for _, s := range db.sources {
		if raw = s.records.Get([]byte(id)); raw != nil {
			break
		}
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

// AliasSeverity returns the severity stubs known under id: a record kept
// only for its severity, and the records that name id as an alias. Each
// stub holds the id, aliases, upstream and severity of its record.
func (db *DB) AliasSeverity(id string) []*osvpb.Vulnerability {
	if v, ok := db.stubs[id]; ok {
		return v
	}
	var out []*osvpb.Vulnerability
	seen := map[string]bool{}
	for _, s := range db.sources {
		if s.severity == nil {
			continue
		}
		for _, stub := range decodeStubs(s.severity.Get([]byte(id))) {
			if !seen[stub.GetId()] {
				seen[stub.GetId()] = true
				out = append(out, stub)
			}
		}
	}
	db.stubs[id] = out
	return out
}
