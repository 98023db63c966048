package build

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// cacheEntry is one cached layer step (cache/<key>.json).
type cacheEntry struct {
	Layer   *Layer    `json:"layer,omitempty"` // nil: the step changed nothing
	Created time.Time `json:"created"`
}

// stepRecord is what a step saw in the last build (last/<id>.json), so a
// miss can be explained: which instruction, args or files changed.
type stepRecord struct {
	Key   string            `json:"key"`
	Text  string            `json:"text"`
	Args  map[string]string `json:"args,omitempty"`
	Files map[string]string `json:"files,omitempty"`
}

func chainKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (b *Builder) cachePath(key string) string {
	return filepath.Join(b.opts.StateDir, "cache", key[:2], key+".json")
}

func (b *Builder) lookupCache(key string) (*cacheEntry, bool) {
	if b.opts.StateDir == "" || b.opts.NoCache {
		return nil, false
	}
	data, err := os.ReadFile(b.cachePath(key))
	if err != nil {
		return nil, false
	}
	var e cacheEntry
	if json.Unmarshal(data, &e) != nil {
		return nil, false
	}
	if e.Layer != nil && !b.opts.Blobs.HasBlob(e.Layer.Digest) {
		return nil, false // pruned: rebuild
	}
	return &e, true
}

func (b *Builder) storeCache(key string, e *cacheEntry) error {
	if b.opts.StateDir == "" {
		return nil
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return writeFileAtomic(b.cachePath(key), data)
}

func (b *Builder) lastPath() string {
	abs, _ := filepath.Abs(b.opts.ContextDir)
	return filepath.Join(b.opts.StateDir, "last", chainKey(abs, b.opts.File.Name)[:32]+".json")
}

func (b *Builder) loadLast() {
	b.last = map[string]*stepRecord{}
	b.cur = map[string]*stepRecord{}
	if b.opts.StateDir == "" {
		return
	}
	if data, err := os.ReadFile(b.lastPath()); err == nil {
		_ = json.Unmarshal(data, &b.last) // a damaged record only loses explanations
		b.lastRaw = data
	}
}

func (b *Builder) saveLast() error {
	if b.opts.StateDir == "" {
		return nil
	}
	b.mu.Lock()
	// Keep the records of stages this build skipped.
	for k, v := range b.last {
		if _, ok := b.cur[k]; !ok {
			b.cur[k] = v
		}
	}
	data, err := json.Marshal(b.cur)
	b.mu.Unlock()
	if err != nil {
		return err
	}
	if bytes.Equal(data, b.lastRaw) {
		return nil // a no-change rebuild writes nothing
	}
	return writeFileAtomic(b.lastPath(), data)
}

// compare explains how rec differs from the previous build's record of the
// same step; "" when its own inputs are unchanged.
func (b *Builder) compare(id string, rec *stepRecord) (reason string, changed bool) {
	b.mu.Lock()
	prev := b.last[id]
	b.cur[id] = rec
	b.mu.Unlock()
	if prev == nil {
		return "", false
	}
	if prev.Text != rec.Text {
		return "instruction changed (was: " + prev.Text + ")", true
	}
	var args []string
	for k, v := range rec.Args {
		if pv, ok := prev.Args[k]; !ok || pv != v {
			args = append(args, k)
		}
	}
	for k := range prev.Args {
		if _, ok := rec.Args[k]; !ok {
			args = append(args, k)
		}
	}
	if len(args) > 0 {
		sort.Strings(args)
		return "build arg " + strings.Join(args, ", ") + " changed", true
	}
	var files []string
	for k, v := range rec.Files {
		if prev.Files[k] != v {
			files = append(files, k)
		}
	}
	for k := range prev.Files {
		if _, ok := rec.Files[k]; !ok {
			files = append(files, k)
		}
	}
	if len(files) > 0 {
		sort.Strings(files)
		n := len(files)
		shown := files
		if len(shown) > 5 {
			shown = append(shown[:5:5], "…")
		}
		word := "files"
		if n == 1 {
			word = "file"
		}
		return fmt.Sprintf("%d %s changed: %s", n, word, strings.Join(shown, ", ")), true
	}
	return "", false
}
