package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// What the web pages (package ui) read and change. They go through the same
// content model as the /v2/ handlers — the catalog object, each repository's
// metadata object cached by ETag, blobs reachable only through the
// repository's links — and the same rules for deletes, so a page shows
// nothing the API would not serve to the same user. Nothing here walks the
// storage: the catalog and the tag lists are index objects.

// ManifestInfo is what the registry records about a stored manifest.
type ManifestInfo struct {
	Digest       string
	MediaType    string
	ArtifactType string
	Size         int64
	Subject      string // the digest this manifest refers to (referrers API)
	Annotations  map[string]string
	Pushed       time.Time
}

// Repo is one repository's tags and manifests as read from its metadata
// object; it is a snapshot, never changed.
type Repo struct {
	name string
	m    *repoMeta
}

// Name is the repository's name.
func (r Repo) Name() string { return r.name }

// Tags returns the tag names, sorted.
func (r Repo) Tags() []string { return r.m.sortedTags() }

// TagCount is the number of tags, without sorting them.
func (r Repo) TagCount() int { return len(r.m.Tags) }

// Tag returns the digest a tag names.
func (r Repo) Tag(tag string) (string, bool) {
	d, ok := r.m.Tags[tag]
	return d, ok
}

// TagsOf returns the tags naming digest, sorted.
func (r Repo) TagsOf(digest string) []string {
	var out []string
	for t, d := range r.m.Tags {
		if d == digest {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// Manifest returns what the registry recorded about a stored manifest.
func (r Repo) Manifest(digest string) (ManifestInfo, bool) {
	e, ok := r.m.Manifests[digest]
	if !ok {
		return ManifestInfo{}, false
	}
	return info(digest, e), true
}

// Manifests returns the number of stored manifests.
func (r Repo) Manifests() int { return len(r.m.Manifests) }

// Referrers returns the manifests whose subject is digest, ordered by
// artifact type and then newest first.
func (r Repo) Referrers(digest string) []ManifestInfo {
	var out []ManifestInfo
	for d, e := range r.m.Manifests {
		if e.Subject == digest {
			out = append(out, info(d, e))
		}
	}
	slices.SortFunc(out, func(a, b ManifestInfo) int {
		if c := strings.Compare(a.ArtifactType, b.ArtifactType); c != 0 {
			return c
		}
		if c := b.Pushed.Compare(a.Pushed); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
	return out
}

func info(d string, e *manifestEntry) ManifestInfo {
	return ManifestInfo{Digest: d, MediaType: e.MediaType, ArtifactType: e.ArtifactType, Size: e.Size,
		Subject: e.Subject, Annotations: e.Annotations, Pushed: e.Pushed}
}

// Browse errors, for the pages to answer with the API's statuses.
var (
	ErrNotFound      = errors.New("not found")
	ErrInvalid       = errors.New("invalid name or reference")
	ErrDenied        = errors.New("access denied")
	ErrDeleteRefused = errors.New("deletion is not possible here")
)

// Repositories returns the catalog, sorted; the slice is shared, so the
// caller must not change it.
func (s *Server) Repositories(ctx context.Context) ([]string, error) {
	list, _, err := s.loadCatalog(ctx)
	return list, err
}

// Repository reads one repository's metadata (one Stat when cached).
func (s *Server) Repository(ctx context.Context, name string) (Repo, error) {
	if !validName(name) {
		return Repo{}, fmt.Errorf("repository %w", ErrInvalid)
	}
	m, etag, err := s.loadMeta(ctx, name)
	if err != nil {
		return Repo{}, err
	}
	if etag == "" && len(m.Manifests) == 0 {
		return Repo{}, fmt.Errorf("repository %w", ErrNotFound)
	}
	if m.Tags == nil {
		m.Tags = map[string]string{}
	}
	return Repo{name: name, m: m}, nil
}

// ReadManifest returns a stored manifest's bytes, checked against its digest.
func (s *Server) ReadManifest(ctx context.Context, repo Repo, digest string) ([]byte, ManifestInfo, error) {
	mi, ok := repo.Manifest(digest)
	if !ok {
		return nil, mi, fmt.Errorf("manifest %w", ErrNotFound)
	}
	data, err := s.manifestBytes(ctx, digest, mi.Size)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, mi, fmt.Errorf("manifest %w", ErrNotFound)
		}
		return nil, mi, err
	}
	return data, mi, nil
}

// OpenBlob opens a blob the repository links to (as a blob GET would): two
// requests to the store, the link's Stat and the blob's Open. The caller
// verifies what it reads against the descriptor it has.
func (s *Server) OpenBlob(ctx context.Context, name, dg string) (io.ReadCloser, error) {
	d, ok := parseDigest(dg)
	if !ok || !validName(name) {
		return nil, fmt.Errorf("blob %w", ErrInvalid)
	}
	if _, err := s.d.Stat(ctx, linkKey(name, d)); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("blob %w", ErrNotFound)
		}
		return nil, err
	}
	rd, err := s.d.Open(ctx, blobKey(d))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("blob %w", ErrNotFound)
	}
	return rd, err
}

// ReadBlob reads a small linked blob whole (a config), refusing one over
// max bytes or one whose bytes do not match its digest.
func (s *Server) ReadBlob(ctx context.Context, name, dg string, max int64) ([]byte, error) {
	rd, err := s.OpenBlob(ctx, name, dg)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", dg, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("blob %s is over the %d-byte limit", dg, max)
	}
	d, _ := parseDigest(dg)
	if digestOf(d.alg, data) != d {
		return nil, fmt.Errorf("blob %s is corrupt in storage", dg)
	}
	return data, nil
}

// Allowed reports whether the request's credentials grant action on the
// resource, by the API's rules: with token auth the token's access claim
// decides; with Basic auth (or none) every authenticated user may do
// everything, as with registry:2.
func (s *Server) Allowed(r *http.Request, typ, name, action string) bool {
	if s.opts.Token == nil {
		return true
	}
	g, ok := grantsFrom(r.Context())
	return ok && g.allow(typ, name, action)
}

// CanDelete reports whether this registry deletes at all and whether the
// request's user may delete in the repository.
func (s *Server) CanDelete(r *http.Request, name string) bool {
	return s.deleteRefusal() == "" && s.Allowed(r, "repository", name, "delete")
}

func (s *Server) deleteRefusal() string {
	switch {
	case s.opts.ReadOnly:
		return "the registry is read-only"
	case s.opts.Upstream != nil:
		return "this registry is a pull-through cache"
	case s.opts.DisableDelete:
		return "deletion is disabled on this registry"
	}
	return ""
}

// Delete removes a tag (ref is a tag) or a manifest and every tag naming it
// (ref is a digest), under the API's rules, and sends the delete event.
func (s *Server) Delete(r *http.Request, name, ref string) error {
	if why := s.deleteRefusal(); why != "" {
		return fmt.Errorf("%w: %s", ErrDeleteRefused, why)
	}
	if !validName(name) {
		return fmt.Errorf("repository %w", ErrInvalid)
	}
	if !s.Allowed(r, "repository", name, "delete") {
		return fmt.Errorf("%w: this user may not delete in %s", ErrDenied, name)
	}
	d, tag, err := parseRef(ref)
	if err != nil {
		return fmt.Errorf("reference %w", ErrInvalid)
	}
	err = s.removeManifest(r, name, d, tag)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusNotFound {
		return fmt.Errorf("manifest %w", ErrNotFound)
	}
	return err
}

// Unavailable reports whether err is the store being down or slow (the API
// answers 503 with Retry-After).
func Unavailable(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
