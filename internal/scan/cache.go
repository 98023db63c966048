package scan

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
