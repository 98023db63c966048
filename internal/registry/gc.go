package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// GCOptions configure a garbage collection.
type GCOptions struct {
	DryRun bool
	// DeleteUntagged also removes manifests no tag reaches (directly, as an
	// index child, or as a referrer of a kept manifest).
	DeleteUntagged bool
	// Delay keeps unreferenced blobs and untagged manifests younger than it.
	Delay time.Duration
	// UploadMaxAge: upload sessions idle longer than this are removed
	// (default 24h).
	UploadMaxAge time.Duration
	Logger       *slog.Logger
	// LeaseTTL is how long the GC lease lasts without renewal on a
	// storage without locks (default 1 minute; renewed at a third of it).
	LeaseTTL time.Duration
}

// pushWindow is how long a blob link with no manifest referencing it is
// kept whatever the delay: the time a client has between uploading a layer
// and pushing the manifest that needs it.
const pushWindow = 10 * time.Minute

// GCItem is one deleted (or, in a dry run, deletable) object.
type GCItem struct {
	Kind   string // "blob", "manifest", "link", "upload", "leftover"
	Repo   string
	Digest string
	Size   int64
}

// GCResult lists what a collection removed and the space reclaimed.
type GCResult struct {
	Items []GCItem
	Bytes int64
}

// GC collects unreferenced content from the storage while the registry may
// be serving pushes. A first pass, without locks, finds candidates: blob
// links older than the push window that no manifest of their repository
// references, and blobs that nothing keeps. The sweep then takes the
// exclusive side of the commit lock (pushes take the shared side while they
// link blobs or commit manifests), marks again from fresh metadata and
// deletes only the candidates that are still unreferenced, so nothing a
// push has linked or referenced is lost.
//
// On storage without locks (S3 shared by replicas) the collector holds the
// GC lease instead (lease.go): it is refused with ErrGCRunning while another
// holds it, with ErrNoLease on a store that ignores conditional writes, and
// it stops with ErrLeaseLost the moment a renewal fails.
func GC(ctx context.Context, d storage.Driver, opts GCOptions) (res GCResult, err error) {
	if opts.UploadMaxAge == 0 {
		opts.UploadMaxAge = 24 * time.Hour
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := New(Options{Driver: d, Logger: log, LeaseTTL: opts.LeaseTTL})
	if err != nil {
		return GCResult{}, err
	}
	var l *lease
	if s.locker == nil {
		// Storage shared without locks: one collector at a time, by lease.
		l, err = s.acquireLease(ctx, leaseTTL(opts.LeaseTTL))
		if err != nil {
			return res, err
		}
		var stop func()
		ctx, stop = l.keep(ctx)
		defer func() { stop(); l.release() }()
		defer func() {
			if context.Cause(ctx) == ErrLeaseLost {
				err = ErrLeaseLost
			}
		}()
	}
	res, err = s.collect(ctx, l, opts, log)
	return res, err
}

// collect is GC's work, with the driver's lock or under lease l.
func (s *Server) collect(ctx context.Context, l *lease, opts GCOptions, log *slog.Logger) (GCResult, error) {
	d := s.d
	start := time.Now()
	var res GCResult
	if err := s.gcUploads(ctx, start, opts, &res); err != nil {
		return res, err
	}
	if err := s.gcUntagged(ctx, start, opts, &res); err != nil {
		return res, err
	}
	mk, err := s.mark(ctx, start, opts)
	if err != nil {
		return res, err
	}
	var candidates []storage.Info
	err = d.List(ctx, "blobs/", func(info storage.Info) error {
		dg, ok := digestFromBlobKey(info.Key)
		if !ok || mk.live[dg] || start.Sub(info.ModTime) < opts.Delay {
			return nil
		}
		candidates = append(candidates, info)
		return nil
	})
	if err != nil || (len(candidates) == 0 && len(mk.staleLinks) == 0) {
		return res, err
	}
	if s.locker != nil {
		unlock, err := s.locker.Lock(ctx, gcLockName, true)
		if err != nil {
			return res, err
		}
		defer unlock()
	} else if !opts.DryRun {
		// Announce the deletion, then wait out every push step that began
		// before the announcement (they end within the fence time).
		if err := l.set(ctx, "deleting"); err != nil {
			return res, fmt.Errorf("%w: %v", ErrLeaseLost, err)
		}
		log.Debug("GC lease: deleting; waiting for pushes in flight", "settle", settleTime(l.ttl))
		select {
		case <-time.After(settleTime(l.ttl)):
		case <-ctx.Done():
			return res, context.Cause(ctx)
		}
	}
	// Under the lock no push can link or commit: mark again.
	fresh, err := s.mark(ctx, start, opts)
	if err != nil {
		return res, err
	}
	stillStale := map[string]bool{}
	for _, l := range fresh.staleLinks {
		stillStale[l.Key] = true
	}
	for _, l := range mk.staleLinks {
		if !stillStale[l.Key] {
			continue
		}
		if err := context.Cause(ctx); err != nil {
			return res, err
		}
		res.Items = append(res.Items, GCItem{Kind: "link", Repo: l.repo, Digest: l.digest})
		if !opts.DryRun {
			if err := d.Delete(ctx, l.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return res, fmt.Errorf("deleting link: %w", err)
			}
		}
	}
	for _, info := range candidates {
		dg, _ := digestFromBlobKey(info.Key)
		if fresh.live[dg] {
			continue
		}
		if err := context.Cause(ctx); err != nil {
			return res, err // the lease was lost: not one delete more
		}
		if !opts.DryRun {
			if err := d.Delete(ctx, info.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return res, fmt.Errorf("deleting blob %s: %w", dg, err)
			}
		}
		res.Items = append(res.Items, GCItem{Kind: "blob", Digest: dg, Size: info.Size})
		res.Bytes += info.Size
	}
	return res, nil
}

func digestFromBlobKey(key string) (string, bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 4 {
		return "", false
	}
	d, ok := parseDigest(parts[1] + ":" + parts[3])
	if !ok || d.hex[:2] != parts[2] {
		return "", false
	}
	return d.String(), true
}

type staleLink struct {
	storage.Info
	repo, digest string
}

type marks struct {
	live       map[string]bool // blob digests to keep
	staleLinks []staleLink     // links that no longer keep anything
}

// mark finds the blobs to keep: manifests and what they reference in every
// repository, and blobs linked into a repository, except through links older
// than the push window (or the delay) that no manifest of their repository
// references: those are stale and keep nothing.
func (s *Server) mark(ctx context.Context, start time.Time, opts GCOptions) (marks, error) {
	mk := marks{live: map[string]bool{}}
	repos, _, err := s.loadCatalog(ctx)
	if err != nil {
		return mk, err
	}
	refs := map[string]map[string]bool{}
	for _, name := range repos {
		m, _, err := s.loadMeta(ctx, name)
		if err != nil {
			return mk, err
		}
		refd := map[string]bool{}
		for dg, e := range m.Manifests {
			refd[dg] = true
			for _, r := range e.Refs {
				refd[r] = true
			}
		}
		for dg := range refd {
			mk.live[dg] = true
		}
		refs[name] = refd
	}
	grace := max(opts.Delay, pushWindow)
	// Links of every repository, including those that have no manifest yet
	// (and so are not in the catalog): a first push uploads blobs first.
	err = s.listLinks(ctx, func(name, dg string, info storage.Info) error {
		if start.Sub(info.ModTime) < grace || refs[name][dg] {
			mk.live[dg] = true
			return nil
		}
		mk.staleLinks = append(mk.staleLinks, staleLink{info, name, dg})
		return nil
	})
	return mk, err
}

// listLinks calls fn for every blob link of every repository.
func (s *Server) listLinks(ctx context.Context, fn func(name, dg string, info storage.Info) error) error {
	return s.d.List(ctx, "repositories/", func(info storage.Info) error {
		rest := strings.TrimPrefix(info.Key, "repositories/")
		i := strings.LastIndex(rest, "/_links/")
		if i < 0 {
			return nil
		}
		name := rest[:i]
		alg, hx, ok := strings.Cut(rest[i+len("/_links/"):], "/")
		if !ok || !validName(name) {
			return nil
		}
		d, ok := parseDigest(alg + ":" + hx)
		if !ok {
			return nil
		}
		return fn(name, d.String(), info)
	})
}

// gcUntagged removes the manifests no tag reaches (when asked).
func (s *Server) gcUntagged(ctx context.Context, start time.Time, opts GCOptions, res *GCResult) error {
	if !opts.DeleteUntagged {
		return nil
	}
	repos, _, err := s.loadCatalog(ctx)
	if err != nil {
		return err
	}
	for _, name := range repos {
		m, _, err := s.loadMeta(ctx, name)
		if err != nil {
			return err
		}
		if opts.DryRun {
			for _, dg := range untagged(m, start, opts.Delay) {
				res.Items = append(res.Items, GCItem{Kind: "manifest", Repo: name, Digest: dg, Size: m.Manifests[dg].Size})
			}
			continue
		}
		var dropped []GCItem
		_, err = s.updateMeta(ctx, name, func(cur *repoMeta) error {
			// Computed on the current metadata, inside the conditional
			// update: a push may have tagged one of them since.
			dropped = dropped[:0]
			for _, dg := range untagged(cur, start, opts.Delay) {
				dropped = append(dropped, GCItem{Kind: "manifest", Repo: name, Digest: dg, Size: cur.Manifests[dg].Size})
				delete(cur.Manifests, dg)
			}
			if len(dropped) == 0 {
				return errNoChange
			}
			return nil
		})
		if err != nil && !errors.Is(err, errNoChange) {
			return err
		}
		res.Items = append(res.Items, dropped...)
	}
	return nil
}

var errNoChange = errors.New("no change")

// untagged returns the manifests of m that no tag reaches and that are older
// than delay. Reachable: tagged, a child of a reachable index, or a referrer
// whose subject is reachable.
func untagged(m *repoMeta, start time.Time, delay time.Duration) []string {
	keep := map[string]bool{}
	var visit func(dg string)
	visit = func(dg string) {
		e, ok := m.Manifests[dg]
		if !ok || keep[dg] {
			return
		}
		keep[dg] = true
		for _, r := range e.Refs {
			visit(r)
		}
	}
	for _, dg := range m.Tags {
		visit(dg)
	}
	for changed := true; changed; {
		changed = false
		for dg, e := range m.Manifests {
			if !keep[dg] && e.Subject != "" && keep[e.Subject] {
				visit(dg)
				changed = true
			}
		}
	}
	var drop []string
	for dg, e := range m.Manifests {
		if !keep[dg] && start.Sub(e.Pushed) >= delay {
			drop = append(drop, dg)
		}
	}
	return drop
}

// PurgeUploads removes upload sessions idle for longer than age (and chunks
// whose session is gone), as registry:2's upload purging does.
func PurgeUploads(ctx context.Context, d storage.Driver, age time.Duration, dryRun bool) (GCResult, error) {
	s, err := New(Options{Driver: d})
	if err != nil {
		return GCResult{}, err
	}
	var res GCResult
	err = s.gcUploads(ctx, time.Now(), GCOptions{UploadMaxAge: age, DryRun: dryRun}, &res)
	return res, err
}

// gcUploads removes upload sessions older than UploadMaxAge and chunks
// whose session is gone.
func (s *Server) gcUploads(ctx context.Context, start time.Time, opts GCOptions, res *GCResult) error {
	type session struct {
		stateOld, hasState bool
	}
	sessions := map[string]*session{}
	var parts []storage.Info
	err := s.d.List(ctx, "uploads/", func(info storage.Info) error {
		rest := strings.TrimPrefix(info.Key, "uploads/")
		id, obj, ok := strings.Cut(rest, "/")
		if !ok {
			return nil
		}
		se := sessions[id]
		if se == nil {
			se = &session{}
			sessions[id] = se
		}
		if obj == "state.json" {
			se.hasState = true
			data, _, err := s.readSmall(ctx, info.Key, maxStateSize)
			var st uploadState
			if err == nil && json.Unmarshal(data, &st) == nil {
				se.stateOld = start.Sub(st.Started) > opts.UploadMaxAge && start.Sub(info.ModTime) > opts.UploadMaxAge
			}
			if se.stateOld {
				parts = append(parts, info)
			}
			return nil
		}
		parts = append(parts, info)
		return nil
	})
	if err != nil {
		return err
	}
	for _, info := range parts {
		id, _, _ := strings.Cut(strings.TrimPrefix(info.Key, "uploads/"), "/")
		se := sessions[id]
		// A chunk without a session is a leftover once it is old; a session
		// is removed whole when it is stale.
		if se.hasState && !se.stateOld {
			continue
		}
		if !se.hasState && start.Sub(info.ModTime) < opts.UploadMaxAge {
			continue
		}
		res.Items = append(res.Items, GCItem{Kind: "upload", Digest: info.Key, Size: info.Size})
		res.Bytes += info.Size
		if !opts.DryRun {
			if err := s.d.Delete(ctx, info.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
	}
	return s.sweep(ctx, start, opts, res)
}

// sweep has the driver remove what its writers left beside the objects (a
// killed Put's temporary file, a lock file older versions kept), which
// listing does not show: temporary files count as abandoned after the upload
// bound, like sessions.
func (s *Server) sweep(ctx context.Context, start time.Time, opts GCOptions, res *GCResult) error {
	sw, ok := s.d.(storage.Sweeper)
	if !ok {
		return nil
	}
	gone, err := sw.Sweep(ctx, "", start.Add(-opts.UploadMaxAge), opts.DryRun)
	for _, info := range gone {
		res.Items = append(res.Items, GCItem{Kind: "leftover", Digest: info.Key, Size: info.Size})
		res.Bytes += info.Size
	}
	return err
}
