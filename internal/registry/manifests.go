package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/registry/storage"
)

// maxManifestSize is the spec's suggested limit; larger manifests get 413.
const maxManifestSize = 4 << 20

const (
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerSchema1  = "application/vnd.docker.distribution.manifest.v1+json"
	mtDockerSigned   = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// manifestDoc is the union of the manifest and index fields the registry
// checks; unknown fields are kept verbatim in the stored bytes.
type manifestDoc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
	Platform     *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

// parseRef tells a digest reference from a tag.
func parseRef(ref string) (d digest, tag string, err error) {
	if strings.Contains(ref, ":") {
		d, ok := parseDigest(ref)
		if !ok {
			return digest{}, "", errDigestInvalid("invalid or unsupported digest " + untrusted.Quote(ref))
		}
		return d, "", nil
	}
	if !validTag(ref) {
		return digest{}, "", errTagInvalid()
	}
	return digest{}, ref, nil
}

func (s *Server) handleManifest(w http.ResponseWriter, r *http.Request, name, ref string) error {
	d, tag, err := parseRef(ref)
	if err != nil {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return errManifestUnknown()
		}
		return err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.getManifest(w, r, name, d, tag)
	case http.MethodPut:
		return s.putManifest(w, r, name, d, tag)
	case http.MethodDelete:
		return s.deleteManifest(w, r, name, d, tag)
	}
	return errUnsupported("method not allowed")
}

// getManifest is the hot path: a cached metadata lookup (one Stat) and
// cached manifest bytes.
func (s *Server) getManifest(w http.ResponseWriter, r *http.Request, name string, d digest, tag string) error {
	ctx := r.Context()
	if s.opts.Upstream != nil {
		if err := s.fillManifest(ctx, name, d, tag); err != nil {
			return err
		}
	}
	m, _, err := s.loadMeta(ctx, name)
	if err != nil {
		return err
	}
	ds := d.String()
	if tag != "" {
		var ok bool
		if ds, ok = m.Tags[tag]; !ok {
			return errManifestUnknown()
		}
	}
	e, ok := m.Manifests[ds]
	if !ok {
		return errManifestUnknown()
	}
	data, err := s.manifestBytes(ctx, ds, e.Size)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", e.MediaType)
	h.Set("Content-Length", itoa(int64(len(data))))
	h.Set("Docker-Content-Digest", ds)
	h.Set("ETag", `"`+ds+`"`)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, ds) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if r.Method == http.MethodGet {
		w.Write(data)
		s.manifestEvent(r, "pull", name, ds, e, tag, data)
	}
	return nil
}

// manifestEvent sends a manifest's event, with its descriptors when asked.
func (s *Server) manifestEvent(r *http.Request, action, name, ds string, e *manifestEntry, tag string, body []byte) {
	if s.opts.Events == nil {
		return
	}
	t := manifestTarget(name, ds, e, tag)
	if s.opts.IncludeReferences {
		var doc manifestDoc
		if json.Unmarshal(body, &doc) == nil {
			if doc.Config != nil {
				t.References = append(t.References, *doc.Config)
			}
			t.References = append(t.References, doc.Layers...)
			t.References = append(t.References, doc.Manifests...)
		}
	}
	s.event(r, action, t)
}

// fillManifest is the pull-through cache's part of a manifest GET: a tag
// is asked of the upstream every time (tags move), and when the upstream
// cannot be reached a stored copy still serves; a digest is fetched only
// when it is not stored.
func (s *Server) fillManifest(ctx context.Context, name string, d digest, tag string) error {
	if tag == "" {
		if m, _, err := s.loadMeta(ctx, name); err == nil {
			if _, ok := m.Manifests[d.String()]; ok {
				return nil
			}
		}
		return s.proxyManifest(ctx, name, d, "")
	}
	err := s.proxyManifest(ctx, name, d, tag)
	if err == nil {
		return nil
	}
	if m, _, lerr := s.loadMeta(ctx, name); lerr == nil {
		if _, ok := m.Tags[tag]; ok && !isUnknown(err) {
			s.log.Warn("upstream unavailable; serving the stored tag", "repo", name, "tag", tag, "err", err)
			return nil
		}
	}
	return err
}

func (s *Server) manifestBytes(ctx context.Context, ds string, size int64) ([]byte, error) {
	if b, ok := s.mcache.get(ds); ok {
		return b, nil
	}
	d, _ := parseDigest(ds)
	rd, err := s.d.Open(ctx, blobKey(d))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errManifestUnknown()
	}
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", ds, err)
	}
	if int64(len(data)) != size || digestOf(d.alg, data) != d {
		return nil, fmt.Errorf("manifest %s is corrupt in storage", ds)
	}
	s.mcache.put(ds, data)
	return data, nil
}

func isImageManifest(mt string) bool { return mt == mtOCIManifest || mt == mtDockerManifest }
func isIndex(mt string) bool         { return mt == mtOCIIndex || mt == mtDockerList }

// nonDistributable layers are referenced by URL and never pushed.
func nonDistributable(mt string) bool {
	return strings.Contains(mt, ".nondistributable.") || strings.Contains(mt, ".foreign.")
}

func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, name string, d digest, tag string) error {
	ctx := r.Context()
	if r.ContentLength > maxManifestSize {
		return errTooLarge("MANIFEST_INVALID", "manifest exceeds 4 MiB")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		return errManifestInvalid("reading manifest: " + err.Error())
	}
	if len(body) > maxManifestSize {
		return errTooLarge("MANIFEST_INVALID", "manifest exceeds 4 MiB")
	}
	tags := []string{}
	if tag != "" {
		tags = append(tags, tag)
		d = digestOf("sha256", body)
	} else if got := digestOf(d.alg, body); got != d {
		return errDigestInvalid("manifest content does not match digest " + d.String())
	}
	for _, t := range r.URL.Query()["tag"] {
		if !validTag(t) {
			return errTagInvalid()
		}
		tags = append(tags, t)
	}
	e, err := checkManifest(body, r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	if err := s.validateURLs(e.urls); err != nil {
		return err
	}
	ctx, unlock, err := s.commitGuard(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.validateChildren(ctx, name, e.children); err != nil {
		return err
	}
	for _, ref := range e.blobs {
		for _, k := range []string{linkKey(name, ref), blobKey(ref)} {
			if _, err := s.d.Stat(ctx, k); errors.Is(err, storage.ErrNotFound) {
				return errManifestBlobUnknown(ref.String())
			} else if err != nil {
				return err
			}
		}
	}
	if err := s.storeManifest(ctx, name, d, body, e.entry, tags); err != nil {
		return err
	}
	ds := d.String()
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/manifests/"+ds)
	h.Set("Docker-Content-Digest", ds)
	if e.entry.Subject != "" {
		h.Set("OCI-Subject", e.entry.Subject)
	}
	if len(r.URL.Query()["tag"]) > 0 {
		h.Set("OCI-Tag", strings.Join(r.URL.Query()["tag"], ", "))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	if len(tags) == 0 {
		s.manifestEvent(r, "push", name, ds, e.entry, "", body)
	}
	for _, t := range tags {
		s.manifestEvent(r, "push", name, ds, e.entry, t, body)
	}
	return nil
}

// storeManifest records body as manifest d of repository name, tagged
// with tags. The bytes go first, the metadata last: a crash in between
// leaves an unreferenced blob for GC, never a visible manifest without its
// bytes. The caller holds the commit lock.
func (s *Server) storeManifest(ctx context.Context, name string, d digest, body []byte, entry *manifestEntry, tags []string) error {
	if _, err := s.d.Stat(ctx, blobKey(d)); err != nil {
		if _, err := s.d.Put(ctx, blobKey(d), bytes.NewReader(body), storage.Cond{}); err != nil {
			return fmt.Errorf("storing manifest: %w", err)
		}
	}
	entry.Pushed = time.Now().UTC()
	ds := d.String()
	_, err := s.updateMeta(ctx, name, func(m *repoMeta) error {
		if old, ok := m.Manifests[ds]; ok {
			entry.Pushed = old.Pushed
		}
		m.Manifests[ds] = entry
		for _, t := range tags {
			m.Tags[t] = ds
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mcache.put(ds, body)
	return nil
}

type checkedManifest struct {
	entry    *manifestEntry
	blobs    []digest     // must be in the repository before the manifest is accepted
	urls     []string     // layer URLs (foreign layers), for validation.manifests.urls
	children []descriptor // an index's manifests, for validation.manifests.indexes
}

// checkManifest parses and checks a manifest body against its media type:
// an image manifest needs a config, and every descriptor needs a valid
// digest. What it returns is recorded in the repository metadata.
func checkManifest(body []byte, contentType string) (checkedManifest, error) {
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return checkedManifest{}, errManifestInvalid("manifest is not valid JSON: " + err.Error())
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	mt := doc.MediaType
	switch {
	case mt != "" && ct != "" && mt != ct:
		return checkedManifest{}, errManifestInvalid(fmt.Sprintf("Content-Type %s does not match the manifest's mediaType %s", ct, mt))
	case mt == "" && ct != "":
		mt = ct
	case mt == "" && doc.Config != nil:
		mt = mtOCIManifest
	case mt == "" && doc.Manifests != nil:
		mt = mtOCIIndex
	case mt == "":
		return checkedManifest{}, errManifestInvalid("manifest has no media type")
	}
	if mt == mtDockerSchema1 || mt == mtDockerSigned {
		return checkedManifest{}, errManifestInvalid("Docker schema 1 manifests are not supported; push schema 2 or OCI")
	}
	if doc.SchemaVersion != 2 && (isImageManifest(mt) || isIndex(mt)) {
		return checkedManifest{}, errManifestInvalid("schemaVersion must be 2")
	}
	e := &manifestEntry{MediaType: mt, Size: int64(len(body)), ArtifactType: doc.ArtifactType, Annotations: doc.Annotations}
	out := checkedManifest{entry: e}
	parse := func(desc descriptor) (digest, error) {
		d, ok := parseDigest(desc.Digest)
		if !ok {
			return digest{}, errManifestInvalid("invalid digest " + untrusted.Quote(desc.Digest) + " in manifest")
		}
		if desc.Size < 0 {
			return digest{}, errManifestInvalid("negative size in manifest")
		}
		return d, nil
	}
	if isImageManifest(mt) {
		if doc.Config == nil {
			return checkedManifest{}, errManifestInvalid("image manifest has no config")
		}
		if doc.Manifests != nil {
			return checkedManifest{}, errManifestInvalid("image manifest has a manifests list")
		}
		cd, err := parse(*doc.Config)
		if err != nil {
			return checkedManifest{}, err
		}
		out.blobs = append(out.blobs, cd)
		e.Refs = append(e.Refs, cd.String())
		if e.ArtifactType == "" {
			e.ArtifactType = doc.Config.MediaType
		}
	}
	for _, l := range doc.Layers {
		ld, err := parse(l)
		if err != nil {
			return checkedManifest{}, err
		}
		out.urls = append(out.urls, l.URLs...)
		if nonDistributable(l.MediaType) {
			continue
		}
		e.Refs = append(e.Refs, ld.String())
		if isImageManifest(mt) {
			out.blobs = append(out.blobs, ld)
		}
	}
	for _, c := range doc.Manifests {
		cd, err := parse(c)
		if err != nil {
			return checkedManifest{}, err
		}
		// An index may be sparse: its children are required only when
		// validation.manifests.indexes says so (putManifest).
		e.Refs = append(e.Refs, cd.String())
		out.children = append(out.children, c)
	}
	if doc.Subject != nil {
		sd, err := parse(*doc.Subject)
		if err != nil {
			return checkedManifest{}, err
		}
		e.Subject = sd.String()
	}
	return out, nil
}

func (s *Server) deleteManifest(w http.ResponseWriter, r *http.Request, name string, d digest, tag string) error {
	if err := s.removeManifest(r, name, d, tag); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// removeManifest deletes a tag, or a manifest with every tag naming it, and
// sends the delete event; the API's DELETE and the web pages share it.
func (s *Server) removeManifest(r *http.Request, name string, d digest, tag string) error {
	ctx := r.Context()
	errUnknown := errors.New("unknown")
	_, err := s.updateMeta(ctx, name, func(m *repoMeta) error {
		if tag != "" {
			if _, ok := m.Tags[tag]; !ok {
				return errUnknown
			}
			delete(m.Tags, tag)
			return nil
		}
		ds := d.String()
		if _, ok := m.Manifests[ds]; !ok {
			return errUnknown
		}
		delete(m.Manifests, ds)
		for t, v := range m.Tags {
			if v == ds {
				delete(m.Tags, t)
			}
		}
		return nil
	})
	if errors.Is(err, errUnknown) {
		return errManifestUnknown()
	}
	if err != nil {
		return err
	}
	t := EventTarget{Repository: name, Tag: tag}
	if tag == "" {
		t.Digest = d.String()
	}
	s.event(r, "delete", t)
	return nil
}

// URLPolicy is registry:2's validation.manifests.urls: every layer URL of
// a pushed manifest must be http(s), without a fragment, match Allow and
// not match Deny. A nil Allow allows nothing.
type URLPolicy struct {
	Allow, Deny *regexp.Regexp
}

func (s *Server) validateURLs(urls []string) error {
	p := s.opts.ManifestURLs
	if p == nil {
		return nil
	}
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Fragment != "" ||
			p.Allow == nil || !p.Allow.MatchString(u) || (p.Deny != nil && p.Deny.MatchString(u)) {
			return errManifestInvalid("layer URL " + untrusted.Quote(u) + " is not allowed by the registry's validation.manifests.urls")
		}
	}
	return nil
}

// IndexPolicy is registry:2's validation.manifests.indexes: "all" (every
// child of a pushed index must be in the repository), "list" (those of
// the listed os/arch platforms), "none"; "" is berth's default, sparse
// indexes allowed, as "none".
type IndexPolicy struct {
	Platforms string
	List      []string // "os/arch"
}

func (s *Server) validateChildren(ctx context.Context, name string, children []descriptor) error {
	p := s.opts.IndexChildren
	if len(children) == 0 || p.Platforms == "" || p.Platforms == "none" {
		return nil
	}
	var m *repoMeta
	for _, c := range children {
		if p.Platforms == "list" {
			want := false
			for _, l := range p.List {
				want = want || (c.Platform != nil && c.Platform.OS+"/"+c.Platform.Architecture == l)
			}
			if !want {
				continue
			}
		}
		if m == nil {
			var err error
			if m, _, err = s.loadMeta(ctx, name); err != nil {
				return err
			}
		}
		if _, ok := m.Manifests[c.Digest]; !ok {
			return errManifestBlobUnknown(c.Digest)
		}
	}
	return nil
}
