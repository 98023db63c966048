package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	bolt "go.etcd.io/bbolt"
)

var bucketLayers = []byte("layers")

// Cache keeps each layer's inventory, keyed by the layer's chain ID (its
// digest together with every layer below, since the distribution release
// that names a package's ecosystem comes from lower layers) and the
// extractor set. It lives in a bbolt file, so writes are atomic.
type Cache struct {
	db *bolt.DB
}

// OpenCache opens (creating) the cache file at path.
func OpenCache(path string) (*Cache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating scan cache directory: %w", err)
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening scan cache %s: %w", path, err)
	}
	// Only create the bucket when missing: a write transaction costs an
	// fsync, and a warm scan should not write at all.
	exists := false
	_ = db.View(func(tx *bolt.Tx) error {
		exists = tx.Bucket(bucketLayers) != nil
		return nil
	})
	if exists {
		return &Cache{db: db}, nil
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketLayers)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening scan cache %s: %w", path, err)
	}
	return &Cache{db: db}, nil
}

// Close releases the file.
func (c *Cache) Close() error { return c.db.Close() }

func (c *Cache) get(key string) (*layerRecord, bool) {
	if c == nil {
		return nil, false
	}
	var rec *layerRecord
	_ = c.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketLayers).Get([]byte(key))
		if raw == nil {
			return nil
		}
		r := &layerRecord{}
		if json.Unmarshal(raw, r) == nil {
			rec = r
		}
		return nil
	})
	return rec, rec != nil
}

func (c *Cache) put(key string, rec *layerRecord) error {
	if c == nil {
		return nil
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLayers).Put([]byte(key), raw)
	})
}

// ChainIDs are the chain IDs of the layers with these diff IDs, bottom
// first: the keys under which the cache holds their inventories.
func ChainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	chain := ""
	for i, d := range diffIDs {
		chain = chainID(chain, d)
		out[i] = chain
	}
	return out
}

// PruneCache removes from the cache file at path every inventory whose
// layer chain keep rejects (keep nil: all of them), then rewrites the file
// compacted, since bbolt never gives freed pages back to the disk. It
// returns the bytes the file shrank by. A missing file is an empty cache.
//
// The rewrite goes to a temp file renamed over the old one while the old
// one's lock is held, so a scan running meanwhile waits and then either
// sees the old entries or the new file; at worst it caches into the file
// being replaced, which costs a later scan a re-inventory, never a wrong one.
func PruneCache(path string, keep func(chain string) bool) (int64, error) {
	before, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("opening scan cache %s: %w", path, err)
	}
	defer db.Close()
	removed := 0
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLayers)
		if b == nil {
			return nil
		}
		var drop [][]byte
		_ = b.ForEach(func(k, _ []byte) error {
			// Keys are "v1 EXTRACTORS CHAIN"; anything else is stale.
			key := string(k)
			chain := key[strings.LastIndexByte(key, ' ')+1:]
			if keep == nil || !strings.HasPrefix(key, "v1 ") || !keep(chain) {
				drop = append(drop, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		removed = len(drop)
		return nil
	})
	if err != nil || removed == 0 {
		return 0, err
	}
	tmp := path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("compacting scan cache: %w", err)
	}
	if err := bolt.Compact(dst, db, 1<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, fmt.Errorf("compacting scan cache: %w", err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("compacting scan cache: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("replacing scan cache: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	after, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return max(before.Size()-after.Size(), 0), nil
}

// CacheFile is the inventory cache at a path as the build cache's prune
// sees it (`system prune`, `builder prune`).
type CacheFile string

// PruneCache removes the inventories of layer stacks no image of inUse
// (lists of diff IDs, bottom first) has; nil inUse removes them all. Scans
// of archives and directories fill the cache again.
func (p CacheFile) PruneCache(_ context.Context, inUse [][]v1.Hash) (int64, error) {
	var keep func(string) bool
	if inUse != nil {
		chains := map[string]bool{}
		for _, ids := range inUse {
			s := make([]string, len(ids))
			for i, d := range ids {
				s[i] = d.String()
			}
			for _, c := range ChainIDs(s) {
				chains[c] = true
			}
		}
		keep = func(c string) bool { return chains[c] }
	}
	return PruneCache(string(p), keep)
}
