package vulndb

import (
	"archive/zip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
)

// An osv.dev-style repository serves <base>/<Ecosystem>/all.zip (one JSON
// record per entry, at the zip's root) and <base>/ecosystems.txt (the
// ecosystems it exports, one a line), as osv.dev's exporter writes them to
// https://osv-vulnerabilities.storage.googleapis.com.

// DefaultRepository is osv.dev's public export bucket.
const DefaultRepository = "https://osv-vulnerabilities.storage.googleapis.com"

// maxExportSize bounds one export download; osv.dev's largest, npm's, is a
// few hundred MiB.
const maxExportSize = 4 << 30

// stallTimeout ends a download no byte has arrived for in this long; the
// next attempt resumes it.
var stallTimeout = 60 * time.Second

// Progress receives what an update is doing, per source: Status with a
// phase (the Status* constants while it is under way, a one-line result
// when it is done) and Bytes while it downloads. remote.Progress has the
// same shape, so one renderer serves pulls and updates.
type Progress interface {
	Status(id, status string)
	Bytes(id string, done, total int64)
}

// Phases an update reports before a source's final line.
const (
	StatusWaiting     = "Waiting"
	StatusChecking    = "Checking"
	StatusDownloading = "Downloading"
	StatusImporting   = "Importing"
)

type noProgress struct{}

func (noProgress) Status(string, string)      {}
func (noProgress) Bytes(string, int64, int64) {}

// exportURL is where repository base publishes ecosystem's all.zip.
func exportURL(base, ecosystem string) string {
	return strings.TrimSuffix(base, "/") + "/" + url.PathEscape(ecosystem) + "/all.zip"
}

// download is what is known about a download in progress: kept beside the
// partial file, so a later run resumes it only if the server still has
// the same object.
type download struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Size         int64  `json:"size"` // -1 when the server did not say
	MD5          string `json:"md5,omitempty"`
	CRC32C       string `json:"crc32c,omitempty"`
}

// fetched is the outcome of one export download.
type fetched struct {
	path        string // the complete, verified zip; "" when not modified or not found
	notModified bool   // the server confirmed the copy the database holds
	notFound    bool   // the repository does not publish this ecosystem
	meta        download
	resumed     int64 // bytes a previous attempt had already fetched
}

// downloader fetches exports into dir, resuming what an interrupted run
// left there.
type downloader struct {
	client   *http.Client
	dir      string
	progress Progress
	retries  int
}

// paths of the download of u: the data and what is known about it.
func (d *downloader) paths(u string) (data, meta string) {
	sum := sha256.Sum256([]byte(u))
	base := hex.EncodeToString(sum[:8])
	return filepath.Join(d.dir, base+".zip.part"), filepath.Join(d.dir, base+".json")
}

// fetch downloads u. prev is the copy the database holds (its source), to
// ask the server whether it changed; nil when there is none.
func (d *downloader) fetch(ctx context.Context, id, u string, prev *Source) (fetched, error) {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return fetched{}, err
	}
	dataPath, metaPath := d.paths(u)
	var last error
	var resumed int64 = -1
	for attempt := 0; attempt <= d.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fetched{}, ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		f, err := d.attempt(ctx, id, u, dataPath, metaPath, prev)
		if resumed < 0 {
			resumed = f.resumed
		}
		f.resumed = resumed
		if err == nil {
			return f, nil
		}
		last = err
		var perm permanentError
		if errors.As(err, &perm) || ctx.Err() != nil {
			break
		}
	}
	return fetched{}, last
}

// permanentError is a failure a retry will not mend (a refused zip, a 403).
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func (d *downloader) attempt(ctx context.Context, id, u, dataPath, metaPath string, prev *Source) (fetched, error) {
	var have int64
	var meta download
	if raw, err := os.ReadFile(metaPath); err == nil && json.Unmarshal(raw, &meta) == nil && meta.URL == u {
		if fi, err := os.Stat(dataPath); err == nil {
			have = fi.Size()
		}
	} else {
		meta = download{}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fetched{}, permanentError{err}
	}
	// Compressed transfer would hide the object's own length and break
	// ranges; a zip does not compress further anyway.
	req.Header.Set("Accept-Encoding", "identity")
	// If-Range: the rest only if it is still the same object, which needs
	// a strong ETag or a Last-Modified date to name it.
	validator := meta.LastModified
	if meta.ETag != "" && !strings.HasPrefix(meta.ETag, "W/") {
		validator = meta.ETag
	}
	resuming := have > 0 && validator != ""
	if resuming {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
		req.Header.Set("If-Range", validator)
	} else if prev != nil && prev.URL == u {
		if prev.ETag != "" {
			req.Header.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			req.Header.Set("If-Modified-Since", prev.LastModified)
		}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fetched{}, fmt.Errorf("fetching %s: %w", u, err)
	}
	defer resp.Body.Close()
	got := download{URL: u, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"), Size: -1}
	got.MD5, got.CRC32C = googHashes(resp.Header)
	if got.MD5 == "" {
		got.MD5 = resp.Header.Get("Content-MD5")
	}
	switch resp.StatusCode {
	case http.StatusNotModified:
		return fetched{notModified: true, meta: sourceMeta(prev)}, nil
	case http.StatusNotFound, http.StatusGone:
		return fetched{notFound: true}, nil
	case http.StatusOK:
		if resp.ContentLength >= 0 {
			got.Size = resp.ContentLength
		}
		if prev != nil && prev.URL == u && sameObject(got, sourceMeta(prev)) {
			// The server ignored the conditional request but says it is
			// the object the database holds: nothing to download.
			return fetched{notModified: true, meta: sourceMeta(prev)}, nil
		}
		have = 0
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !resuming || !ok || start != have || (meta.Size >= 0 && total != meta.Size) || !sameObject(got, meta) {
			// Not the rest of what we have: start again.
			os.Remove(dataPath)
			os.Remove(metaPath)
			return fetched{}, fmt.Errorf("fetching %s: the server answered a resumed download with a different range (%s); starting again", u, resp.Header.Get("Content-Range"))
		}
		got.Size = total
		if got.MD5 == "" && got.CRC32C == "" {
			got.MD5, got.CRC32C = meta.MD5, meta.CRC32C
		}
	default:
		err := fmt.Errorf("fetching %s: %s", u, untrusted.Text(resp.Status))
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
			return fetched{}, permanentError{err}
		}
		return fetched{}, err
	}
	if got.Size > maxExportSize {
		return fetched{}, permanentError{fmt.Errorf("%s is %d bytes, more than the %d a vulnerability export may be", u, got.Size, int64(maxExportSize))}
	}
	flags := os.O_CREATE | os.O_WRONLY
	if have == 0 {
		flags |= os.O_TRUNC
	} else {
		flags |= os.O_APPEND
	}
	out, err := os.OpenFile(dataPath, flags, 0o644)
	if err != nil {
		return fetched{}, err
	}
	defer out.Close()
	if raw, err := json.Marshal(got); err == nil {
		if err := fsutil.WriteFileAtomic(metaPath, raw, 0o644); err != nil {
			return fetched{}, err
		}
	}
	d.progress.Status(id, StatusDownloading)
	d.progress.Bytes(id, have, got.Size)
	body := &stallReader{r: resp.Body, cancel: cancel, timer: time.AfterFunc(stallTimeout, func() {
		cancel(fmt.Errorf("no data for %s", stallTimeout))
	})}
	defer body.timer.Stop()
	limit := int64(maxExportSize) - have + 1
	n, err := copyProgress(out, io.LimitReader(body, limit), func(n int64) { d.progress.Bytes(id, have+n, got.Size) })
	if cerr := context.Cause(ctx); err != nil && cerr != nil && !errors.Is(cerr, context.Canceled) {
		err = cerr
	}
	if err != nil {
		out.Sync() // keep what arrived for the next attempt
		return fetched{resumed: have}, fmt.Errorf("fetching %s: %w (%d bytes kept; the next attempt resumes)", u, err, have+n)
	}
	if err := out.Sync(); err != nil {
		return fetched{}, err
	}
	size := have + n
	if got.Size >= 0 && size != got.Size {
		return fetched{resumed: have}, fmt.Errorf("fetching %s: got %d bytes, the server announced %d", u, size, got.Size)
	}
	got.Size = size
	if err := verifyExport(dataPath, got); err != nil {
		os.Remove(dataPath)
		os.Remove(metaPath)
		return fetched{}, permanentError{fmt.Errorf("refusing %s: %w", u, err)}
	}
	return fetched{path: dataPath, meta: got, resumed: have}, nil
}

// discard removes a finished or abandoned download of u.
func (d *downloader) discard(u string) {
	dataPath, metaPath := d.paths(u)
	os.Remove(dataPath)
	os.Remove(metaPath)
}

func sourceMeta(s *Source) download {
	if s == nil {
		return download{}
	}
	return download{URL: s.URL, ETag: s.ETag, LastModified: s.LastModified, Size: s.Size}
}

// sameObject reports whether two descriptions name the same object: same
// ETag when both have one, else same Last-Modified, and same size when both
// know it.
func sameObject(a, b download) bool {
	if a.Size > 0 && b.Size > 0 && a.Size != b.Size {
		return false
	}
	if a.ETag != "" && b.ETag != "" {
		return a.ETag == b.ETag
	}
	return a.LastModified != "" && a.LastModified == b.LastModified
}

// parseContentRange reads "bytes START-END/TOTAL".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	total, err2 := strconv.ParseInt(tot, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || total < start {
		return 0, 0, false
	}
	return start, total, true
}

// googHashes reads Google Cloud Storage's x-goog-hash header
// ("crc32c=BASE64, md5=BASE64"), which osv.dev's bucket sends.
func googHashes(h http.Header) (md5sum, crc string) {
	for _, v := range h.Values("X-Goog-Hash") {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				continue
			}
			switch k {
			case "md5":
				md5sum = val
			case "crc32c":
				crc = val
			}
		}
	}
	return md5sum, crc
}

// verifyExport checks a complete download against the checksums the server
// gave and that it is a zip whose directory reads; the entries' own CRCs
// are checked as the import reads them.
func verifyExport(path string, meta download) error {
	if meta.MD5 != "" || meta.CRC32C != "" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		m, c := md5.New(), crc32.New(crc32.MakeTable(crc32.Castagnoli))
		_, err = io.Copy(io.MultiWriter(m, c), f)
		f.Close()
		if err != nil {
			return err
		}
		if meta.MD5 != "" {
			if got := base64.StdEncoding.EncodeToString(m.Sum(nil)); got != meta.MD5 {
				return fmt.Errorf("its MD5 is %s, the server announced %s", got, meta.MD5)
			}
		}
		if meta.CRC32C != "" {
			got := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, c.Sum32()))
			if got != meta.CRC32C {
				return fmt.Errorf("its CRC32C is %s, the server announced %s", got, meta.CRC32C)
			}
		}
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("it is not a zip: %w", err)
	}
	defer zr.Close()
	if len(zr.File) == 0 {
		return errors.New("the zip is empty")
	}
	return nil
}

// stallReader cancels the request when no data has arrived for
// stallTimeout.
type stallReader struct {
	r      io.Reader
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(stallTimeout)
	}
	return n, err
}

func copyProgress(dst io.Writer, src io.Reader, report func(int64)) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	last := time.Now()
	for {
		m, err := src.Read(buf)
		if m > 0 {
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
			if time.Since(last) > 50*time.Millisecond {
				report(n)
				last = time.Now()
			}
		}
		if errors.Is(err, io.EOF) {
			report(n)
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// ecosystemsList fetches <base>/ecosystems.txt; nil (and no error) when the
// repository has none.
func (d *downloader) ecosystemsList(ctx context.Context, base string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/ecosystems.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s/ecosystems.txt: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s/ecosystems.txt: %s", base, untrusted.Text(resp.Status))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}
