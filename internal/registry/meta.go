package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// repoMeta is everything the registry knows about one repository besides its
// blob links: one object, so that a tag lookup is one read (and usually a
// cache hit) and so that a manifest and its tags become visible together, in
// one conditional write.
type repoMeta struct {
	Tags      map[string]string         `json:"tags"`      // tag -> manifest digest
	Manifests map[string]*manifestEntry `json:"manifests"` // digest -> entry
}

// manifestEntry records what the handlers and GC need without re-reading the
// manifest: its descriptor fields, its subject and what it references.
type manifestEntry struct {
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Subject      string            `json:"subject,omitempty"`
	Refs         []string          `json:"refs,omitempty"` // config, layers, child manifests
	Pushed       time.Time         `json:"pushed"`
}

func (m *repoMeta) clone() *repoMeta {
	c := &repoMeta{Tags: make(map[string]string, len(m.Tags)+1), Manifests: make(map[string]*manifestEntry, len(m.Manifests)+1)}
	for k, v := range m.Tags {
		c.Tags[k] = v
	}
	for k, v := range m.Manifests {
		c.Manifests[k] = v // entries are never mutated once stored
	}
	return c
}

func (m *repoMeta) sortedTags() []string {
	tags := make([]string, 0, len(m.Tags))
	for t := range m.Tags {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return tags
}

// metaCache keeps parsed metadata objects keyed by storage key and validated
// by ETag: a reader pays one Stat, and a writer in this process replaces the
// entry it wrote. Writers in other processes change the ETag, so nothing
// stale is ever served.
type metaCache struct {
	mu sync.RWMutex
	m  map[string]cachedMeta
}

type cachedMeta struct {
	etag string
	meta *repoMeta
	list []string // the catalog, for catalogKey
}

func (c *metaCache) get(key, etag string) (cachedMeta, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	return e, ok && e.etag == etag
}

func (c *metaCache) put(key string, e cachedMeta) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]cachedMeta)
	}
	if len(c.m) > 4096 {
		clear(c.m) // bounded: a cold reload costs one read per repository
	}
	c.m[key] = e
	c.mu.Unlock()
}

const maxMetaSize = 64 << 20

// loadMeta returns the repository's metadata and its ETag; a repository
// that has no manifest yet has empty metadata and ETag "".
func (s *Server) loadMeta(ctx context.Context, name string) (*repoMeta, string, error) {
	key := metaKey(name)
	var info storage.Info
	var err error
	if s.flights != nil {
		info, err = s.flights.stat(ctx, s.d, key)
	} else {
		info, err = s.d.Stat(ctx, key)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return &repoMeta{}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading metadata of %s: %w", name, err)
	}
	if e, ok := s.cache.get(key, info.ETag); ok {
		return e.meta, info.ETag, nil
	}
	data, etag, err := s.readSmall(ctx, key, maxMetaSize)
	if errors.Is(err, storage.ErrNotFound) {
		return &repoMeta{}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading metadata of %s: %w", name, err)
	}
	m := &repoMeta{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, "", fmt.Errorf("decoding metadata of %s: %w", name, err)
	}
	if m.Tags == nil {
		m.Tags = map[string]string{}
	}
	if m.Manifests == nil {
		m.Manifests = map[string]*manifestEntry{}
	}
	s.cache.put(key, cachedMeta{etag: etag, meta: m})
	return m, etag, nil
}

// readSmall reads a whole small object and returns the ETag of what it read,
// or "" when the object was replaced while being read (then it must not be
// cached under any ETag).
func (s *Server) readSmall(ctx context.Context, key string, limit int64) ([]byte, string, error) {
	if g, ok := s.d.(storage.Getter); ok {
		data, info, err := g.Get(ctx, key, limit)
		return data, info.ETag, err
	}
	before, err := s.d.Stat(ctx, key)
	if err != nil {
		return nil, "", err
	}
	rd, err := s.d.Open(ctx, key)
	if err != nil {
		return nil, "", err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, "", err
	}
	if int64(len(data)) > limit {
		return nil, "", fmt.Errorf("object %s exceeds %d bytes", key, limit)
	}
	after, err := s.d.Stat(ctx, key)
	if err != nil || after.ETag != before.ETag {
		return data, "", nil
	}
	return data, before.ETag, nil
}

var errConflict = errors.New("too many concurrent updates")

// maxCASAttempts bounds a compare-and-swap loop. Replicas racing on one
// object (hundreds of pushes of one tag at once) each win in turn; with the
// backoff below, 200 attempts span tens of seconds.
const maxCASAttempts = 200

// writeLocks serialize this process's writers of one metadata object
// (striped by key hash). A channel of one is a mutex a context can abandon.
type writeLocks [64]chan struct{}

func (s *Server) writeLock(ctx context.Context, key string) (func(), error) {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	ch := s.wlocks[h%uint32(len(s.wlocks))]
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// casBackoff waits before attempt (none before the first two): a random
// pause that grows to 100ms, so that racing writers spread out instead of
// colliding again in lockstep.
func casBackoff(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return nil
	}
	d := time.Duration(rand.Int64N(int64(min(attempt*attempt, 100)) * int64(time.Millisecond)))
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// updateMeta applies fn to a copy of the repository's metadata and stores it
// with a conditional write, retrying when another writer won the race. A
// repository seen for the first time is added to the catalog.
func (s *Server) updateMeta(ctx context.Context, name string, fn func(m *repoMeta) error) (*repoMeta, error) {
	key := metaKey(name)
	// Writers of one repository in this process take turns, so that only
	// the replicas (not every request) race on the conditional write.
	unlock, err := s.writeLock(ctx, key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		if err := casBackoff(ctx, attempt); err != nil {
			return nil, err
		}
		cur, etag, err := s.loadMeta(ctx, name)
		if err != nil {
			return nil, err
		}
		m := cur.clone()
		if err := fn(m); err != nil {
			return nil, err
		}
		data, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		cond := storage.Cond{IfMatch: etag}
		if etag == "" {
			cond = storage.Cond{IfNoneMatch: true}
			if err := s.addToCatalog(ctx, name); err != nil {
				return nil, err
			}
		}
		info, err := s.d.Put(ctx, key, bytes.NewReader(data), cond)
		if errors.Is(err, storage.ErrPrecondition) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writing metadata of %s: %w", name, err)
		}
		s.cache.put(key, cachedMeta{etag: info.ETag, meta: m})
		return m, nil
	}
	return nil, fmt.Errorf("updating metadata of %s: %w", name, errConflict)
}

// loadCatalog returns the sorted repository names.
func (s *Server) loadCatalog(ctx context.Context) ([]string, string, error) {
	info, err := s.d.Stat(ctx, catalogKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	if e, ok := s.cache.get(catalogKey, info.ETag); ok {
		return e.list, info.ETag, nil
	}
	data, etag, err := s.readSmall(ctx, catalogKey, maxMetaSize)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading catalog: %w", err)
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, "", fmt.Errorf("decoding catalog: %w", err)
	}
	s.cache.put(catalogKey, cachedMeta{etag: etag, list: list})
	return list, etag, nil
}

func (s *Server) addToCatalog(ctx context.Context, name string) error {
	return s.editCatalog(ctx, func(list []string) []string {
		i, found := slices.BinarySearch(list, name)
		if found {
			return nil
		}
		return slices.Insert(slices.Clone(list), i, name)
	})
}

// editCatalog rewrites the catalog when fn returns a new list (nil: no change).
func (s *Server) editCatalog(ctx context.Context, fn func([]string) []string) error {
	// Its own lock: editCatalog runs inside updateMeta's.
	select {
	case s.catLock <- struct{}{}:
		defer func() { <-s.catLock }()
	case <-ctx.Done():
		return ctx.Err()
	}
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		if err := casBackoff(ctx, attempt); err != nil {
			return err
		}
		list, etag, err := s.loadCatalog(ctx)
		if err != nil {
			return err
		}
		next := fn(list)
		if next == nil {
			return nil
		}
		data, _ := json.Marshal(next)
		cond := storage.Cond{IfMatch: etag}
		if etag == "" {
			cond = storage.Cond{IfNoneMatch: true}
		}
		info, err := s.d.Put(ctx, catalogKey, bytes.NewReader(data), cond)
		if errors.Is(err, storage.ErrPrecondition) {
			continue
		}
		if err != nil {
			return fmt.Errorf("writing catalog: %w", err)
		}
		s.cache.put(catalogKey, cachedMeta{etag: info.ETag, list: next})
		return nil
	}
	return fmt.Errorf("updating catalog: %w", errConflict)
}
