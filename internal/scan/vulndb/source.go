package vulndb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// A sourceWriter fills one source's bucket in a build. Records are decoded
// by several workers (JSON decoding is most of an import's cost) and
// written by one, in transactions of writeBatch records: the copy being
// built is private, so it need not change in a single transaction.
type sourceWriter struct {
	b       *build
	src     Source
	old     string // the bucket the source had before, removed on commit
	whole   func(string) bool
	log     *slog.Logger
	index   map[string][]string
	sev     map[string][][]byte
	pending []*parsedRecord
}

const writeBatch = 10000

// parsedRecord is one decoded entry, ready to store.
type parsedRecord struct {
	name     string
	skipErr  error // malformed: left out and counted
	id       string
	whole    bool
	bin      []byte   // the record, when kept whole
	stub     []byte   // its severity stub, when it states a severity
	keys     []string // index keys, when kept whole
	aliases  []string
	modified time.Time
}

var errOversized = errors.New("record is larger than the maximum size")

func (b *build) newSourceWriter(s Source, whole func(string) bool, log *slog.Logger) (*sourceWriter, error) {
	w := &sourceWriter{b: b, whole: whole, log: log, index: map[string][]string{}, sev: map[string][][]byte{}}
	if cur, ok := b.source(s.Name); ok {
		w.old = cur.bucketName()
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketSources)
		// A bucket of its own, so the previous records stay until this
		// import has succeeded.
		for n := time.Now().UnixNano(); ; n++ {
			s.Bucket = s.Name + "#" + strconv.FormatInt(n, 36)
			if all.Bucket([]byte(s.Bucket)) == nil {
				break
			}
		}
		sb, err := all.CreateBucket([]byte(s.Bucket))
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketRecords, bucketIndex, bucketSeverity} {
			if _, err := sb.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("writing vulnerability database: %w", err)
	}
	w.src = s
	return w, nil
}

// bucketName is the key of the source's bucket (its name, for databases
// written before sources had buckets of their own).
func (s Source) bucketName() string {
	if s.Bucket != "" {
		return s.Bucket
	}
	return s.Name
}

// run decodes the entries walk emits and stores them.
func (w *sourceWriter) run(ctx context.Context, walk func(*walker) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	entries := make(chan entry, 256)
	results := make(chan *parsedRecord, 256)
	wk := &walker{ctx: gctx, emit: func(e entry) error {
		select {
		case entries <- e:
			return nil
		case <-gctx.Done():
			return gctx.Err()
		}
	}}
	defer wk.close()
	g.Go(func() error {
		defer close(entries)
		return walk(wk)
	})
	var workers sync.WaitGroup
	for range max(2, min(8, runtime.GOMAXPROCS(0))) {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			for e := range entries {
				r, err := w.prepare(e)
				if err != nil {
					return err
				}
				select {
				case results <- r:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() {
		workers.Wait()
		close(results)
	}()
	var werr error
	for r := range results {
		if werr != nil {
			continue // drain, so the workers can stop
		}
		w.add(r)
		if len(w.pending) >= writeBatch {
			if werr = w.flush(); werr != nil {
				cancel()
			}
		}
	}
	err := g.Wait()
	if werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	return w.flush()
}

// prepare reads and decodes one entry. A malformed record is a skip; a read
// error (a damaged zip, a failed CRC) is an error: the source as a whole is
// not trusted then.
func (w *sourceWriter) prepare(e entry) (*parsedRecord, error) {
	r := &parsedRecord{name: e.name}
	if e.size > MaxRecordSize {
		r.skipErr = errOversized
		return r, nil
	}
	rc, err := e.open()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", e.name, err)
	}
	data, err := readAll(io.LimitReader(rc, MaxRecordSize+1), e.size)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", e.name, err)
	}
	if len(data) > MaxRecordSize {
		r.skipErr = errOversized
		return r, nil
	}
	v, err := ParseRecord(data)
	if err != nil {
		r.skipErr = err
		return r, nil
	}
	r.id, r.aliases = v.GetId(), v.GetAliases()
	if m := v.GetModified(); m != nil && m.AsTime().Year() > 1970 {
		r.modified = m.AsTime()
	}
	keys := indexKeys(v)
	r.whole = w.whole == nil
	for _, k := range keys {
		if w.whole != nil && w.whole(k[:strings.IndexByte(k, 0)]) {
			r.whole = true
		}
	}
	if r.whole {
		r.keys = keys
		if r.bin, err = proto.Marshal(v); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", r.id, err)
		}
	}
	if stub := severityStub(v); stub != nil {
		if r.stub, err = proto.Marshal(stub); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", r.id, err)
		}
	}
	return r, nil
}

func (w *sourceWriter) add(r *parsedRecord) {
	if r.skipErr != nil {
		w.src.Skipped++
		w.log.Warn("skipping malformed OSV record", "file", r.name, "err", r.skipErr)
		return
	}
	if r.modified.After(w.src.Newest) {
		w.src.Newest = r.modified
	}
	if r.whole {
		w.pending = append(w.pending, r)
		ecos := map[string]bool{}
		for _, k := range r.keys {
			w.index[k] = append(w.index[k], r.id)
			ecos[k[:strings.IndexByte(k, 0)]] = true
		}
		for e := range ecos {
			w.src.Ecosystems[e]++
		}
		w.src.Records++
	} else if r.stub != nil {
		w.sev[r.id] = append(w.sev[r.id], r.stub)
		w.src.Severities++
	}
	if r.stub != nil {
		for _, a := range r.aliases {
			w.sev[a] = append(w.sev[a], r.stub)
		}
	}
}

func (w *sourceWriter) bucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	return tx.Bucket(bucketSources).Bucket([]byte(w.src.Bucket)).Bucket(name)
}

// flush stores the pending records, sorted: bbolt writes sorted keys
// fastest.
func (w *sourceWriter) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	sort.Slice(w.pending, func(i, j int) bool { return w.pending[i].id < w.pending[j].id })
	err := w.b.db.Update(func(tx *bolt.Tx) error {
		rb := w.bucket(tx, bucketRecords)
		// Exports are sorted by id and batches arrive mostly in order:
		// fill pages nearly full instead of bbolt's half-full default.
		rb.FillPercent = 0.9
		for _, r := range w.pending {
			if err := rb.Put([]byte(r.id), r.bin); err != nil {
				return fmt.Errorf("storing %s: %w", r.id, err)
			}
		}
		return nil
	})
	w.pending = w.pending[:0]
	if err != nil {
		return fmt.Errorf("writing vulnerability database: %w", err)
	}
	return nil
}

// commit writes the index and severity entries, drops the source's
// previous bucket and records the source.
func (w *sourceWriter) commit() error {
	if err := w.putSorted(bucketIndex, len(w.index), func(put func(k string, v []byte) error) error {
		for k, ids := range w.index {
			sort.Strings(ids)
			out := ids[:0]
			for i, id := range ids {
				if i == 0 || id != ids[i-1] {
					out = append(out, id)
				}
			}
			if err := put(k, []byte(strings.Join(out, "\n"))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := w.putSorted(bucketSeverity, len(w.sev), func(put func(k string, v []byte) error) error {
		for k, stubs := range w.sev {
			if err := put(k, encodeStubs(stubs)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return w.finish()
}

// putSorted collects the key/values fill produces and writes them in key
// order, writeBatch*5 to a transaction.
func (w *sourceWriter) putSorted(bucket []byte, n int, fill func(put func(k string, v []byte) error) error) error {
	type kv struct {
		k string
		v []byte
	}
	all := make([]kv, 0, n)
	if err := fill(func(k string, v []byte) error { all = append(all, kv{k, v}); return nil }); err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].k < all[j].k })
	for start := 0; start < len(all); start += writeBatch * 5 {
		chunk := all[start:min(len(all), start+writeBatch*5)]
		err := w.b.db.Update(func(tx *bolt.Tx) error {
			b := w.bucket(tx, bucket)
			b.FillPercent = 1 // written in key order
			for _, e := range chunk {
				if err := b.Put([]byte(e.k), e.v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("writing vulnerability database: %w", err)
		}
	}
	return nil
}

// discard drops what this writer stored; the source keeps its previous
// records.
func (w *sourceWriter) discard() {
	_ = w.b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSources).DeleteBucket([]byte(w.src.Bucket))
	})
}

// severityStub is what a record says about severity, and under which ids:
// nil when it states none.
func severityStub(v *osvpb.Vulnerability) *osvpb.Vulnerability {
	sev := append([]*osvpb.Severity(nil), v.GetSeverity()...)
	for _, a := range v.GetAffected() {
		sev = append(sev, a.GetSeverity()...)
	}
	stub := &osvpb.Vulnerability{Id: v.GetId(), Aliases: v.GetAliases(), Upstream: v.GetUpstream(), Severity: sev}
	if f, ok := v.GetDatabaseSpecific().GetFields()["severity"]; ok && f.GetStringValue() != "" {
		stub.DatabaseSpecific = &structpb.Struct{Fields: map[string]*structpb.Value{"severity": f}}
	}
	if len(sev) == 0 && stub.DatabaseSpecific == nil {
		return nil
	}
	return stub
}

// encodeStubs joins stubs, each prefixed by its length, leaving out
// repeats (a record met twice in a zip of zips).
func encodeStubs(stubs [][]byte) []byte {
	var out []byte
	seen := map[string]bool{}
	for _, s := range stubs {
		if seen[string(s)] {
			continue
		}
		seen[string(s)] = true
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return out
}

// decodeStubs reverses encodeStubs; a damaged entry ends the list.
func decodeStubs(raw []byte) []*osvpb.Vulnerability {
	var out []*osvpb.Vulnerability
	for len(raw) > 0 {
		n, k := binary.Uvarint(raw)
		if k <= 0 || uint64(len(raw)-k) < n {
			break
		}
		v := &osvpb.Vulnerability{}
		if proto.Unmarshal(raw[k:k+int(n)], v) != nil {
			break
		}
		out = append(out, v)
		raw = raw[k+int(n):]
	}
	return out
}

// copyBucket copies every key of from (a bucket of another database) into
// this source's bucket name, writeBatch*5 keys to a transaction.
func (w *sourceWriter) copyBucket(from *bolt.Bucket, name []byte) error {
	if from == nil {
		return nil
	}
	c := from.Cursor()
	k, v := c.First()
	for k != nil {
		err := w.b.db.Update(func(tx *bolt.Tx) error {
			b := w.bucket(tx, name)
			b.FillPercent = 1 // copied in key order
			for n := 0; k != nil && n < writeBatch*5; n++ {
				if err := b.Put(append([]byte(nil), k...), append([]byte(nil), v...)); err != nil {
					return err
				}
				k, v = c.Next()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("writing vulnerability database: %w", err)
		}
	}
	return nil
}

// finish records the source, dropping the bucket it replaces.
func (w *sourceWriter) finish() error {
	err := w.b.db.Update(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketSources)
		if w.old != "" && all.Bucket([]byte(w.old)) != nil {
			return all.DeleteBucket([]byte(w.old))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing vulnerability database: %w", err)
	}
	w.b.setSource(w.src)
	return nil
}

// readAll is io.ReadAll into a buffer of the size the zip announced (one
// byte more, to see the end), not one grown from 512 bytes.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > MaxRecordSize {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, size+1)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			// More than announced: let ReadAll take the rest (and the
			// size limit say no).
			rest, err := io.ReadAll(r)
			return append(buf, rest...), err
		}
	}
}
