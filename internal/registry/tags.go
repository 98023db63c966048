package registry

import (
	"encoding/json"
	"github.com/berth-dev/berth/internal/untrusted"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
)

// page applies the spec's n/last pagination to a sorted list and sets the
// Link header when more entries follow.
func page(w http.ResponseWriter, r *http.Request, all []string, path string, limit int) ([]string, error) {
	q := r.URL.Query()
	last := q.Get("last")
	start := 0
	if last != "" {
		start = sort.SearchStrings(all, last)
		if start < len(all) && all[start] == last {
			start++
		}
	}
	rest := all[start:]
	ns := q.Get("n")
	if ns == "" && limit > 0 {
		ns = strconv.Itoa(limit)
	}
	if ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 0 {
			return nil, newErr(http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid number of results requested")
		}
		if limit > 0 && n > limit {
			n, ns = limit, strconv.Itoa(limit)
		}
		if n < len(rest) {
			rest = rest[:n]
			if n > 0 {
				v := url.Values{}
				v.Set("n", ns)
				v.Set("last", rest[n-1])
				w.Header().Set("Link", "<"+path+"?"+v.Encode()+`>; rel="next"`)
			}
		}
	}
	if rest == nil {
		rest = []string{}
	}
	return rest, nil
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	return nil
}

func (s *Server) getTags(w http.ResponseWriter, r *http.Request, name string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errUnsupported("method not allowed")
	}
	m, etag, err := s.loadMeta(r.Context(), name)
	if err != nil {
		return err
	}
	all := m.sortedTags()
	if s.opts.Upstream != nil {
		// A pull-through cache lists the upstream's tags (registry:2 does),
		// its own when the upstream cannot be asked.
		if up, err := s.opts.Upstream.Tags(r.Context(), name); err == nil {
			sort.Strings(up)
			all, etag = up, "upstream"
		} else if upstreamNotFound(err) && etag == "" {
			return errNameUnknown()
		}
	}
	if etag == "" && len(m.Manifests) == 0 {
		return errNameUnknown()
	}
	tags, err := page(w, r, all, "/v2/"+name+"/tags/list", s.opts.MaxTags)
	if err != nil {
		return err
	}
	return writeJSON(w, r, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, tags})
}

func (s *Server) getCatalog(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errUnsupported("method not allowed")
	}
	list, _, err := s.loadCatalog(r.Context())
	if err != nil {
		return err
	}
	repos, err := page(w, r, list, "/v2/_catalog", s.opts.MaxCatalogEntries)
	if err != nil {
		return err
	}
	return writeJSON(w, r, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// getReferrers answers with an OCI index of the manifests in the repository
// whose subject is the digest, optionally filtered by artifactType.
func (s *Server) getReferrers(w http.ResponseWriter, r *http.Request, name, ref string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errUnsupported("method not allowed")
	}
	d, ok := parseDigest(ref)
	if !ok {
		return errDigestInvalid("invalid or unsupported digest " + untrusted.Quote(ref))
	}
	m, _, err := s.loadMeta(r.Context(), name)
	if err != nil {
		return err
	}
	filter := r.URL.Query().Get("artifactType")
	ds := d.String()
	list := []descriptor{}
	for dg, e := range m.Manifests {
		if e.Subject != ds || (filter != "" && e.ArtifactType != filter) {
			continue
		}
		list = append(list, descriptor{MediaType: e.MediaType, Digest: dg, Size: e.Size, ArtifactType: e.ArtifactType, Annotations: e.Annotations})
	}
	slices.SortFunc(list, func(a, b descriptor) int {
		if a.Digest < b.Digest {
			return -1
		}
		if a.Digest > b.Digest {
			return 1
		}
		return 0
	})
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, r, mtOCIIndex, struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, mtOCIIndex, list})
}
