package vulndb

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// maxNestedZip bounds a zip inside a zip (osv.dev's all.zip files, the
// largest of which is a few hundred MiB).
const maxNestedZip = 4 << 30

// Import adds the OSV records under src (a directory of JSON records, an
// osv.dev all.zip, a zip of such zips, or one JSON file) to the database at
// dbPath, creating it when missing. Records with an id already present are
// replaced. The import is one transaction: it lands entirely or not at all.
func Import(ctx context.Context, dbPath, src string, log *slog.Logger) (Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return Source{}, fmt.Errorf("importing %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return Source{}, fmt.Errorf("creating database directory: %w", err)
	}
	_, statErr := os.Stat(dbPath)
	created := statErr != nil
	b, err := bolt.Open(dbPath, 0o644, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		return Source{}, fmt.Errorf("opening vulnerability database %s: %w", dbPath, err)
	}
	defer b.Close()

	name := src
	if abs, err := filepath.Abs(src); err == nil {
		name = abs
	}
	im := &importer{log: log, src: Source{Name: name, Ecosystems: map[string]int{}}, index: map[string][]string{}}
	err = b.Update(func(tx *bolt.Tx) error {
		if err := im.begin(tx); err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			err = im.dir(ctx, src)
		case strings.HasSuffix(strings.ToLower(src), ".json"):
			err = im.file(src)
		default:
			err = im.zipFile(ctx, src, 0)
		}
		if err != nil {
			return err
		}
		if im.src.Records == 0 {
			return fmt.Errorf("no OSV records found in %s (expected *.json records, an osv.dev all.zip or a zip of those)", src)
		}
		return im.finish(tx)
	})
	if err != nil {
		if created {
			// Leave no empty file behind: "no database" stays the clear error.
			b.Close()
			os.Remove(dbPath)
		}
		return Source{}, fmt.Errorf("importing %s: %w", src, err)
	}
	return im.src, nil
}

type importer struct {
	log     *slog.Logger
	src     Source
	records *bolt.Bucket
	index   map[string][]string // new index entries, merged in finish
}

func (im *importer) begin(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketRecords, bucketIndex, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	m := tx.Bucket(bucketMeta)
	if s := m.Get(keySchema); s != nil && string(s) != schemaVersion {
		return fmt.Errorf("database has schema %q, this berth writes %q; remove it and import again", s, schemaVersion)
	}
	im.records = tx.Bucket(bucketRecords)
	im.src.Imported = time.Now().UTC()
	return m.Put(keySchema, []byte(schemaVersion))
}

func (im *importer) dir(ctx context.Context, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // directories are walked; symlinks are not followed
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".json":
			return im.file(p)
		case ".zip":
			return im.zipFile(ctx, p, 0)
		}
		return nil
	})
}

func (im *importer) file(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return im.read(p, f)
}

func (im *importer) read(name string, r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxRecordSize+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return im.add(name, data)
}

func (im *importer) add(name string, data []byte) error {
	v, err := ParseRecord(data)
	if err != nil {
		im.src.Skipped++
		im.log.Warn("skipping malformed OSV record", "file", name, "err", err)
		return nil
	}
	bin, err := proto.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", v.GetId(), err)
	}
	if err := im.records.Put([]byte(v.GetId()), bin); err != nil {
		return fmt.Errorf("storing %s: %w", v.GetId(), err)
	}
	im.src.Records++
	if m := v.GetModified(); m != nil && m.AsTime().Year() > 1970 && m.AsTime().After(im.src.Newest) {
		im.src.Newest = m.AsTime()
	}
	ecos := map[string]bool{}
	for _, k := range indexKeys(v) {
		im.index[k] = append(im.index[k], v.GetId())
		ecos[k[:strings.IndexByte(k, 0)]] = true
	}
	for e := range ecos {
		im.src.Ecosystems[e]++
	}
	return nil
}

// zipFile imports every *.json in a zip, and the *.json of every zip inside
// it (one level deep, as a zip of osv.dev's per-ecosystem all.zip files).
func (im *importer) zipFile(ctx context.Context, p string, depth int) error {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return fmt.Errorf("%s is neither a directory, a JSON record nor a zip: %w", p, err)
	}
	defer zr.Close()
	return im.zip(ctx, p, &zr.Reader, depth)
}

func (im *importer) zip(ctx context.Context, name string, zr *zip.Reader, depth int) error {
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if zf.FileInfo().IsDir() {
			continue
		}
		lower := strings.ToLower(zf.Name)
		switch {
		case strings.HasSuffix(lower, ".json"):
			if zf.UncompressedSize64 > MaxRecordSize {
				im.src.Skipped++
				im.log.Warn("skipping oversized OSV record", "file", name+"!"+zf.Name, "bytes", zf.UncompressedSize64)
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				return fmt.Errorf("reading %s in %s: %w", zf.Name, name, err)
			}
			err = im.read(name+"!"+zf.Name, rc)
			rc.Close()
			if err != nil {
				return err
			}
		case strings.HasSuffix(lower, ".zip") && depth == 0:
			if err := im.nested(ctx, name, zf); err != nil {
				return err
			}
		}
	}
	return nil
}

// nested spools a zip inside a zip to a temporary file, since zip needs
// random access, and imports it.
func (im *importer) nested(ctx context.Context, outer string, zf *zip.File) error {
	if zf.UncompressedSize64 > maxNestedZip {
		return fmt.Errorf("%s in %s is larger than %d bytes", zf.Name, outer, maxNestedZip)
	}
	tmp, err := os.CreateTemp("", "berth-osv-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("reading %s in %s: %w", zf.Name, outer, err)
	}
	n, err := io.Copy(tmp, io.LimitReader(rc, maxNestedZip+1))
	rc.Close()
	if err != nil {
		return fmt.Errorf("reading %s in %s: %w", zf.Name, outer, err)
	}
	zr, err := zip.NewReader(tmp, n)
	if err != nil {
		return fmt.Errorf("%s in %s is not a zip: %w", zf.Name, outer, err)
	}
	return im.zip(ctx, outer+"!"+zf.Name, zr, 1)
}

func (im *importer) finish(tx *bolt.Tx) error {
	idx := tx.Bucket(bucketIndex)
	keys := make([]string, 0, len(im.index))
	for k := range im.index {
		keys = append(keys, k)
	}
	sort.Strings(keys) // bbolt writes sorted keys fastest
	for _, k := range keys {
		set := map[string]bool{}
		for _, id := range strings.Split(string(idx.Get([]byte(k))), "\n") {
			if id != "" {
				set[id] = true
			}
		}
		for _, id := range im.index[k] {
			set[id] = true
		}
		ids := make([]string, 0, len(set))
		for id := range set {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		if err := idx.Put([]byte(k), []byte(strings.Join(ids, "\n"))); err != nil {
			return err
		}
	}
	sources, err := readSources(tx)
	if err != nil {
		return err
	}
	replaced := false
	for i := range sources {
		if sources[i].Name == im.src.Name {
			sources[i], replaced = im.src, true
		}
	}
	if !replaced {
		sources = append(sources, im.src)
	}
	raw, err := json.Marshal(sources)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(keySources, raw)
}
