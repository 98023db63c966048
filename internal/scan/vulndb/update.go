package vulndb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/fsutil"
)

// UpdateOptions say what to fetch and from where. The zero value fetches
// every ecosystem of Matchable (none: nothing) from osv.dev.
type UpdateOptions struct {
	// Repositories are tried in order, as trivy's --db-repository list:
	// an http(s):// URL is the base of osv.dev-style exports; anything
	// else is an OCI reference to a database `berth scan db push` wrote.
	// An ecosystem one repository cannot provide is asked of the next.
	// Empty means DefaultRepository.
	Repositories []string
	// Ecosystems are the exports wanted (base names: "Debian", "Go", …).
	// Nil means every one in Matchable that a repository publishes.
	Ecosystems []string
	// Matchable are the ecosystems berth's inventory reports: their
	// records are kept whole. Exports of other ecosystems (GIT's CVE
	// records) keep only severities, for the findings that alias them.
	Matchable []string
	// MaxAge skips an ecosystem the database has data for confirmed within
	// this long (0: ask the repositories about every one).
	MaxAge time.Duration

	Client        *http.Client                         // nil: a client with sane timeouts
	ParseRef      func(string) (name.Reference, error) // nil: name.ParseReference
	RemoteOptions []remote.Option                      // for OCI repositories
	Progress      Progress
	Log           *slog.Logger
	// DownloadDir holds partial downloads between runs (default: a
	// "downloads" directory beside the database).
	DownloadDir string
	// Attempts per download within one run, each resuming the last
	// (0: 4). An interrupted download is resumed by the next run too.
	Attempts int
	Now      func() time.Time
}

// UpdateResult is what an update did.
type UpdateResult struct {
	Updated   []Source          // sources written, as the database now has them
	Unchanged []string          // ecosystems their repository confirmed current
	Fresh     []string          // ecosystems skipped: confirmed within MaxAge
	Missing   []string          // ecosystems no repository publishes
	Failed    map[string]error  // ecosystems no repository could provide, and why
	From      map[string]string // ecosystem -> the repository it came from
}

// Changed reports whether the database file was replaced.
func (r UpdateResult) Changed() bool { return len(r.Updated) > 0 }

// DownloadDir is where Update keeps partial downloads for dbPath.
func DownloadDir(dbPath string) string { return filepath.Join(filepath.Dir(dbPath), "downloads") }

// Update brings the database at dbPath up to date from its repositories:
// it downloads the exports wanted (resuming interrupted downloads, asking
// "changed since?" for the ones it has), verifies them, and replaces the
// database atomically with one build. Concurrent updates take turns; the
// second finds the first one's result fresh and does nothing. An error
// names the ecosystems that failed; what succeeded is kept.
func Update(ctx context.Context, dbPath string, opts UpdateOptions) (UpdateResult, error) {
	u, err := newUpdater(dbPath, opts)
	if err != nil {
		return UpdateResult{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return UpdateResult{}, err
	}
	unlock, ok, err := fsutil.TryLock(lockPath(dbPath))
	if err != nil {
		return UpdateResult{}, fmt.Errorf("locking vulnerability database: %w", err)
	}
	if !ok {
		u.progress.Status("database", StatusWaiting+" for another berth to update the database")
		if unlock, err = fsutil.LockContext(ctx, lockPath(dbPath)); err != nil {
			return UpdateResult{}, fmt.Errorf("locking vulnerability database: %w", err)
		}
	}
	defer unlock()
	removeStaleBuilds(dbPath)
	return u.run(ctx)
}

type updater struct {
	dbPath   string
	opts     UpdateOptions
	progress Progress
	log      *slog.Logger
	dl       *downloader
	now      time.Time
	cur      Status // the database as it is (no sources when there is none)
	b        *build // started when the first source arrives
	state    State
	res      UpdateResult
}

func newUpdater(dbPath string, opts UpdateOptions) (*updater, error) {
	u := &updater{dbPath: dbPath, opts: opts, progress: opts.Progress, log: opts.Log}
	if u.progress == nil {
		u.progress = noProgress{}
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if len(u.opts.Repositories) == 0 {
		u.opts.Repositories = []string{DefaultRepository}
	}
	for _, r := range u.opts.Repositories {
		if err := checkRepository(r); err != nil {
			return nil, err
		}
	}
	if u.opts.ParseRef == nil {
		u.opts.ParseRef = func(s string) (name.Reference, error) { return name.ParseReference(s) }
	}
	client := opts.Client
	if client == nil {
		client = defaultClient()
	}
	dir := opts.DownloadDir
	if dir == "" {
		dir = DownloadDir(dbPath)
	}
	attempts := opts.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	u.dl = &downloader{client: client, dir: dir, progress: u.progress, retries: attempts - 1}
	u.now = time.Now().UTC()
	if opts.Now != nil {
		u.now = opts.Now().UTC()
	}
	u.res.Failed = map[string]error{}
	u.res.From = map[string]string{}
	return u, nil
}

// checkRepository rejects what is neither a URL nor a plausible reference.
func checkRepository(r string) error {
	if strings.HasPrefix(r, "http://") || strings.HasPrefix(r, "https://") {
		if _, err := http.NewRequest(http.MethodGet, r, nil); err != nil {
			return fmt.Errorf("vulnerability database repository %q: %w", r, err)
		}
		return nil
	}
	if strings.Contains(r, "://") || strings.TrimSpace(r) == "" {
		return fmt.Errorf("vulnerability database repository %q is neither an http(s):// URL nor an OCI reference", r)
	}
	return nil
}

// IsOCIRepository reports whether r names an OCI artifact rather than a
// base URL of exports.
func IsOCIRepository(r string) bool {
	return !strings.HasPrefix(r, "http://") && !strings.HasPrefix(r, "https://")
}

func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}

func (u *updater) run(ctx context.Context) (UpdateResult, error) {
	db, err := Open(ctx, u.dbPath)
	switch {
	case err == nil:
		u.cur, err = db.Status()
		db.Close()
		if err != nil {
			return u.res, err
		}
	case errors.Is(err, ErrNoDatabase), errors.Is(err, ErrSchema):
		u.cur = Status{Path: u.dbPath}
	default:
		return u.res, err
	}
	u.state, _ = LoadState(u.dbPath)

	all := u.opts.Ecosystems == nil
	wanted := u.opts.Ecosystems
	if all {
		wanted = u.opts.Matchable
	}
	var remaining []string
	for _, e := range dedupe(wanted) {
		if fresh, ok := u.cur.Covers(e); ok && u.opts.MaxAge > 0 && u.now.Sub(fresh) < u.opts.MaxAge {
			u.res.Fresh = append(u.res.Fresh, e)
			continue
		}
		remaining = append(remaining, e)
	}
	for _, repo := range u.opts.Repositories {
		if len(remaining) == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			u.abort()
			return u.res, err
		}
		if IsOCIRepository(repo) {
			remaining = u.fromOCI(ctx, repo, remaining, all)
		} else {
			remaining = u.fromExports(ctx, repo, remaining, all)
		}
	}
	for _, e := range remaining {
		if _, failed := u.res.Failed[e]; !failed {
			u.res.Missing = append(u.res.Missing, e)
			if !all {
				u.progress.Status(e, "Not published by any repository")
			}
		}
	}
	if err := ctx.Err(); err != nil {
		u.abort()
		return u.res, err
	}
	if u.b != nil {
		if err := u.b.commit(); err != nil {
			return u.res, err
		}
		u.b = nil
	}
	if len(u.res.Unchanged) > 0 {
		if err := u.state.save(u.dbPath); err != nil {
			u.log.Warn("recording the database check", "err", err)
		}
	}
	if len(u.res.Failed) > 0 {
		var msgs []string
		for _, e := range sortedKeys(u.res.Failed) {
			msgs = append(msgs, e+": "+u.res.Failed[e].Error())
		}
		return u.res, fmt.Errorf("updating the vulnerability database: %s", strings.Join(msgs, "; "))
	}
	return u.res, nil
}

func (u *updater) abort() {
	if u.b != nil {
		u.b.abort()
		u.b = nil
	}
}

// build returns the build, starting it from the current database.
func (u *updater) build(ctx context.Context) (*build, error) {
	if u.b == nil {
		b, err := beginLocked(ctx, u.dbPath, "", false, u.log, func() {})
		if err != nil {
			return nil, err
		}
		u.b = b
	}
	return u.b, nil
}

// fromExports downloads and imports the remaining ecosystems from an
// osv.dev-style repository, several downloads at a time, importing each as
// it completes. It returns the ecosystems still missing.
func (u *updater) fromExports(ctx context.Context, base string, remaining []string, all bool) []string {
	todo := remaining
	var left []string
	if all {
		// Ask only for what the repository says it exports.
		list, err := u.dl.ecosystemsList(ctx, base)
		if err != nil {
			u.log.Debug("no ecosystems list", "repo", base, "err", err)
		}
		if list != nil {
			published := map[string]bool{}
			for _, e := range list {
				published[e] = true
			}
			todo = nil
			for _, e := range remaining {
				if published[e] {
					todo = append(todo, e)
				} else {
					left = append(left, e)
				}
			}
		}
	}
	type result struct {
		eco string
		url string
		f   fetched
		err error
	}
	results := make(chan result)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(3)
	go func() {
		for _, e := range todo {
			url := exportURL(base, e)
			var prev *Source
			if s, ok := u.cur.Source(e); ok && s.Kind == KindExport {
				prev = &s
			}
			u.progress.Status(e, StatusChecking)
			g.Go(func() error {
				f, err := u.dl.fetch(gctx, e, url, prev)
				select {
				case results <- result{eco: e, url: url, f: f, err: err}:
				case <-gctx.Done():
				}
				return nil
			})
		}
		g.Wait()
		close(results)
	}()
	for r := range results {
		switch {
		case r.err != nil:
			u.res.Failed[r.eco] = r.err
			u.progress.Status(r.eco, "Failed: "+r.err.Error())
			left = append(left, r.eco)
		case r.f.notFound:
			u.progress.Status(r.eco, "Not published by "+base)
			left = append(left, r.eco)
		case r.f.notModified:
			delete(u.res.Failed, r.eco)
			u.state.Checks[r.eco] = Check{URL: r.url, ETag: r.f.meta.ETag, LastModified: r.f.meta.LastModified, Size: r.f.meta.Size, Checked: u.now}
			u.res.Unchanged = append(u.res.Unchanged, r.eco)
			u.res.From[r.eco] = base
			u.progress.Status(r.eco, "Up to date ("+r.url+")")
		default:
			if err := u.importExport(ctx, base, r.eco, r.url, r.f); err != nil {
				u.res.Failed[r.eco] = err
				u.progress.Status(r.eco, "Failed: "+err.Error())
				left = append(left, r.eco)
			}
			u.dl.discard(r.url)
		}
	}
	return left
}

func (u *updater) importExport(ctx context.Context, base, eco, url string, f fetched) error {
	b, err := u.build(ctx)
	if err != nil {
		return err
	}
	u.progress.Status(eco, StatusImporting)
	start := time.Now()
	s := Source{Name: eco, Kind: KindExport, URL: url, ETag: f.meta.ETag, LastModified: f.meta.LastModified, Size: f.meta.Size, Checked: u.now}
	opts := ImportOptions{Log: u.log}
	if !slices.Contains(u.opts.Matchable, eco) {
		opts.Whole = func(string) bool { return false }
	}
	got, err := b.importPath(ctx, s, f.path, opts)
	if err != nil {
		return fmt.Errorf("importing %s: %w", url, err)
	}
	delete(u.res.Failed, eco)
	u.res.Updated = append(u.res.Updated, got)
	u.res.From[eco] = base
	line := fmt.Sprintf("Downloaded %s", sizeText(f.meta.Size))
	if f.resumed > 0 {
		line += fmt.Sprintf(" (resumed at %s)", sizeText(f.resumed))
	}
	kept := fmt.Sprintf("%d records", got.Records)
	if opts.Whole != nil {
		kept = fmt.Sprintf("%d severities", got.Severities)
	}
	u.progress.Status(eco, fmt.Sprintf("%s from %s, imported %s in %s", line, url, kept, time.Since(start).Round(10*time.Millisecond)))
	return nil
}

// fromOCI pulls a database mirror and takes from it the sources of the
// remaining ecosystems (all of its sources when every ecosystem is
// wanted). When nothing has been built yet, the pulled file becomes the
// base, and the current database's sources the mirror lacks are kept.
func (u *updater) fromOCI(ctx context.Context, repo string, remaining []string, all bool) []string {
	ref, err := u.opts.ParseRef(repo)
	if err != nil {
		for _, e := range remaining {
			u.res.Failed[e] = fmt.Errorf("vulnerability database repository %q: %w", repo, err)
		}
		return remaining
	}
	// The mirror's manifest digest says whether it changed since the
	// sources the database holds were taken from it.
	desc, err := remote.Get(ref, append(u.opts.RemoteOptions, remote.WithContext(ctx))...)
	if err != nil {
		u.progress.Status(ref.String(), "Failed: "+err.Error())
		for _, e := range remaining {
			u.res.Failed[e] = fmt.Errorf("pulling vulnerability database %s: %w", ref, err)
		}
		return remaining
	}
	mirror := repo + "@" + desc.Digest.String()
	// A mirror pushed by this berth lists its ecosystems in the manifest:
	// one that has none of those wanted is not pulled at all.
	has := mirrorEcosystems(desc.Manifest)
	if has != nil && !all {
		found := false
		for _, e := range remaining {
			found = found || has[e]
		}
		if !found {
			u.progress.Status(ref.String(), "Has none of "+strings.Join(remaining, ", "))
			return remaining
		}
	}
	if left, ok := u.mirrorUnchanged(mirror, remaining, all, has); ok {
		u.progress.Status(ref.String(), "Up to date ("+mirror+")")
		return left
	}
	path, err := pullFile(ctx, u.dbPath, ref, u.progress, u.opts.RemoteOptions...)
	if err != nil {
		u.progress.Status(ref.String(), "Failed: "+err.Error())
		for _, e := range remaining {
			u.res.Failed[e] = err
		}
		return remaining
	}
	isBase := false
	defer func() {
		if !isBase {
			os.Remove(path)
		}
	}()
	pulled, err := sourcesOf(path)
	if err != nil {
		for _, e := range remaining {
			u.res.Failed[e] = err
		}
		return remaining
	}
	want := map[string]bool{}
	for _, e := range remaining {
		want[e] = true
	}
	covers := func(s Source) bool {
		if all {
			return true
		}
		for e := range s.Ecosystems {
			if want[e] {
				return true
			}
		}
		return s.Kind == KindExport && want[s.Name]
	}
	var got []Source
	for _, s := range pulled {
		if covers(s) {
			got = append(got, s)
		}
	}
	if len(got) == 0 {
		u.progress.Status(ref.String(), "Has none of "+strings.Join(remaining, ", "))
		return remaining
	}
	if u.b == nil && all {
		// The mirror is the new base; keep what only the current one has.
		b, err := beginLocked(ctx, u.dbPath, path, false, u.log, func() {})
		if err != nil {
			for _, e := range remaining {
				u.res.Failed[e] = err
			}
			return remaining
		}
		u.b, isBase = b, true
		if len(u.cur.Sources) > 0 {
			have := map[string]bool{}
			for _, s := range pulled {
				have[s.Name] = true
			}
			if _, err := b.copySources(u.dbPath, func(s Source) bool { return !have[s.Name] }); err != nil {
				u.log.Warn("keeping sources the mirror lacks", "err", err)
			}
		}
	} else {
		b, err := u.build(ctx)
		if err == nil {
			names := map[string]bool{}
			for _, s := range got {
				names[s.Name] = true
			}
			_, err = b.copySources(path, func(s Source) bool { return names[s.Name] })
		}
		if err != nil {
			for _, e := range remaining {
				u.res.Failed[e] = err
			}
			return remaining
		}
	}
	// What came from the mirror is as current as the mirror is.
	names := map[string]bool{}
	for _, s := range got {
		names[s.Name] = true
	}
	for i := range u.b.sources {
		if names[u.b.sources[i].Name] {
			u.b.sources[i].Mirror, u.b.sources[i].Checked = mirror, u.now
		}
	}
	u.res.Updated = append(u.res.Updated, got...)
	var left []string
	for _, e := range remaining {
		provided := false
		for _, s := range got {
			if s.Ecosystems[e] > 0 || s.Name == e {
				provided = true
			}
		}
		if provided {
			delete(u.res.Failed, e)
			u.res.From[e] = repo
		} else if !all {
			left = append(left, e)
		}
	}
	records := 0
	for _, s := range got {
		records += s.Records
	}
	u.progress.Status(ref.String(), fmt.Sprintf("Pulled %d sources, %d records", len(got), records))
	return left
}

// mirrorUnchanged reports whether the database's sources for remaining
// (all of its mirror sources when all) came from mirror as it is now; it
// then records the confirmation and returns what the mirror did not
// provide.
func (u *updater) mirrorUnchanged(mirror string, remaining []string, all bool, has map[string]bool) ([]string, bool) {
	var from []Source
	for _, s := range u.cur.Sources {
		if s.Mirror == mirror {
			from = append(from, s)
		}
	}
	if len(from) == 0 {
		return nil, false
	}
	var left []string
	for _, e := range remaining {
		provided := false
		for _, s := range from {
			provided = provided || s.Ecosystems[e] > 0 || s.Name == e
		}
		if !provided {
			if !all && (has == nil || has[e]) {
				return nil, false // the mirror may have it and the database lacks it: pull
			}
			left = append(left, e)
		}
	}
	for _, s := range from {
		u.state.Checks[s.Name] = Check{URL: mirror, ETag: s.ETag, LastModified: s.LastModified, Size: s.Size, Checked: u.now}
		u.res.Unchanged = append(u.res.Unchanged, s.Name)
		u.res.From[s.Name] = mirror
	}
	return left, true
}

// mirrorEcosystems reads the ecosystems a mirror's manifest lists (Push
// writes them); nil when it lists none.
func mirrorEcosystems(manifest []byte) map[string]bool {
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return nil
	}
	list, ok := m.Annotations[annotationEcosystems]
	if !ok {
		return nil
	}
	out := map[string]bool{}
	for _, e := range strings.Split(list, ",") {
		if e != "" {
			out[e] = true
		}
	}
	return out
}

// sourcesOf reads the sources of the database file at path.
func sourcesOf(path string) ([]Source, error) {
	db, err := Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	st, err := db.Status()
	return st.Sources, err
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// sizeText prints a byte count as MiB or KiB with one decimal.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
