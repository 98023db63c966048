package ui

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/registry"
)

const (
	reposPerPage = 100
	tagsPerPage  = 100
	maxQuery     = 256
)

// pager is one page of a filtered, sorted list.
type pager struct {
	Query       string
	Page, Pages int
	Total       int
	Prev, Next  string // links, "" at either end
}

// paginate filters all by substring q (case-insensitive: names are lower
// case, tags need not be) and cuts page p out of it. The catalog is one
// cached object, so filtering 10,000 names costs microseconds and no
// storage request.
func paginate(all []string, q string, p, per int, link func(q string, p int) string) ([]string, pager) {
	list := all
	if q != "" {
		lq := strings.ToLower(q)
		list = nil
		for _, s := range all {
			if strings.Contains(strings.ToLower(s), lq) {
				list = append(list, s)
			}
		}
	}
	pages := max(1, (len(list)+per-1)/per)
	p = min(max(p, 1), pages)
	pg := pager{Query: q, Page: p, Pages: pages, Total: len(list)}
	if p > 1 {
		pg.Prev = link(q, p-1)
	}
	if p < pages {
		pg.Next = link(q, p+1)
	}
	lo := (p - 1) * per
	return list[lo:min(lo+per, len(list))], pg
}

func query(r *http.Request) (string, int) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxQuery {
		q = q[:maxQuery]
	}
	p, _ := strconv.Atoi(r.URL.Query().Get("p"))
	return q, p
}

type repoRow struct {
	Name    string
	Link    string
	Tags    int
	Counted bool // false: not counted within countWait (shown next time)
}

type reposData struct {
	Rows  []repoRow
	Pager pager
}

func (h *Handler) repositories(w http.ResponseWriter, r *http.Request) {
	if !h.reg.Allowed(r, "registry", "catalog", "*") {
		h.fail(w, r, http.StatusForbidden, "You may not list this registry's repositories; open a repository's page by its address.")
		return
	}
	all, err := h.reg.Repositories(r.Context())
	if err != nil {
		h.failErr(w, r, "repository", err)
		return
	}
	q, p := query(r)
	names, pg := paginate(all, q, p, reposPerPage, func(q string, p int) string {
		return h.link(pathUI, "q", q, "p", pageParam(p))
	})
	rows := make([]repoRow, len(names))
	for i, n := range names {
		rows[i] = repoRow{Name: n, Link: h.link(pathRepo + n)}
	}
	counts := h.tagCounts(r, names, countWait)
	for i := range rows {
		rows[i].Tags, rows[i].Counted = counts[i].n, counts[i].ok
	}
	h.render(w, r, http.StatusOK, "repositories", reposData{Rows: rows, Pager: pg})
}

func pageParam(p int) string {
	if p <= 1 {
		return ""
	}
	return strconv.Itoa(p)
}

type tagRow struct {
	Tag, Digest string
	Link        string
	summary
}

type repoData struct {
	Name      string
	Rows      []tagRow
	Pager     pager
	Manifests int
	Deleted   string
	CanDelete bool
}

func (h *Handler) repository(w http.ResponseWriter, r *http.Request, name string) {
	repo, err := h.reg.Repository(r.Context(), name)
	if err != nil {
		h.failErr(w, r, "repository", err)
		return
	}
	q, p := query(r)
	tags, pg := paginate(repo.Tags(), q, p, tagsPerPage, func(q string, p int) string {
		return h.link(pathRepo+name, "q", q, "p", pageParam(p))
	})
	digests := make([]string, len(tags))
	for i, t := range tags {
		digests[i], _ = repo.Tag(t)
	}
	sums := h.summaries(r.Context(), repo, digests)
	rows := make([]tagRow, len(tags))
	for i, t := range tags {
		rows[i] = tagRow{Tag: t, Digest: digests[i], Link: h.link(pathRepo + name + "/-/tag/" + t), summary: sums[i]}
	}
	deleted := r.URL.Query().Get("deleted")
	if len(deleted) > 200 {
		deleted = ""
	}
	h.render(w, r, http.StatusOK, "repository", repoData{Name: name, Rows: rows, Pager: pg, Manifests: repo.Manifests(),
		Deleted: deleted, CanDelete: h.reg.CanDelete(r, name)})
}

func (h *Handler) tag(w http.ResponseWriter, r *http.Request, name, tag string) {
	repo, err := h.reg.Repository(r.Context(), name)
	if err != nil {
		h.failErr(w, r, "repository", err)
		return
	}
	d, ok := repo.Tag(tag)
	if !ok {
		h.fail(w, r, http.StatusNotFound, "There is no such tag in this repository.")
		return
	}
	h.manifest(w, r, name, d, tag)
}

// manifestData is the tag and manifest page.
type manifestData struct {
	Repo, Tag string
	registry.ManifestInfo
	Tags      []string
	Kind      string
	Raw       string
	Children  []childRow
	Config    *v1.ConfigFile
	RawConfig string
	ConfigErr string
	Layers    []layerRow
	History   []historyRow
	Referrers []referrerGroup
	Total     int64
	Dive      *diveSummary
	DiveLink  string
	CanDelete bool
	RepoLink  string
}

type childRow struct {
	Platform string
	Digest   string
	Size     int64
	Link     string // "" when the child is not stored here
	Note     string
}

type layerRow struct {
	Digest, MediaType string
	Size              int64
}

type historyRow struct {
	Created   time.Time
	CreatedBy string
	Comment   string
	Empty     bool
	Size      int64
	HasSize   bool
}

type referrerGroup struct {
	ArtifactType string
	Items        []referrerRow
}

type referrerRow struct {
	registry.ManifestInfo
	Link string
}

func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, name, dg, tag string) {
	ctx := r.Context()
	repo, err := h.reg.Repository(ctx, name)
	if err != nil {
		h.failErr(w, r, "repository", err)
		return
	}
	raw, mi, err := h.reg.ReadManifest(ctx, repo, dg)
	if err != nil {
		h.failErr(w, r, "manifest", err)
		return
	}
	d := manifestData{Repo: name, Tag: tag, ManifestInfo: mi, Tags: repo.TagsOf(dg), Raw: prettyJSON(raw),
		CanDelete: h.reg.CanDelete(r, name), RepoLink: h.link(pathRepo + name)}
	mt := types.MediaType(mi.MediaType)
	if mt.IsIndex() {
		d.Kind = "index"
		if idx, err := v1.ParseIndexManifest(bytes.NewReader(raw)); err == nil {
			for _, c := range idx.Manifests {
				row := childRow{Platform: platformOf(c.Platform), Digest: c.Digest.String(), Size: c.Size}
				if image.IsAttestation(c) {
					row.Note = "attestation"
				}
				if _, ok := repo.Manifest(row.Digest); ok {
					row.Link = h.link(pathRepo + name + "/-/manifest/" + row.Digest)
				}
				d.Children = append(d.Children, row)
			}
		}
	} else if m, err := v1.ParseManifest(bytes.NewReader(raw)); err == nil {
		d.Kind = "artifact"
		d.Total = mi.Size + m.Config.Size
		for _, l := range m.Layers {
			d.Layers = append(d.Layers, layerRow{Digest: l.Digest.String(), MediaType: string(l.MediaType), Size: l.Size})
			d.Total += l.Size
		}
		if isImageConfig(m.Config.MediaType) {
			d.Kind = "image"
			h.fillConfig(ctx, &d, name, m)
			d.DiveLink = h.link(pathRepo + name + "/-/manifest/" + dg + "/dive")
			if s, ok := h.dive.get(dg); ok {
				d.Dive = s
			}
		}
	}
	for _, ref := range repo.Referrers(dg) {
		at := ref.ArtifactType
		if at == "" {
			at = "(no artifact type)"
		}
		if n := len(d.Referrers); n == 0 || d.Referrers[n-1].ArtifactType != at {
			d.Referrers = append(d.Referrers, referrerGroup{ArtifactType: at})
		}
		g := &d.Referrers[len(d.Referrers)-1]
		g.Items = append(g.Items, referrerRow{ManifestInfo: ref, Link: h.link(pathRepo + name + "/-/manifest/" + ref.Digest)})
	}
	h.render(w, r, http.StatusOK, "manifest", d)
}

// fillConfig reads the image config and pairs its history with the layers:
// each history entry that is not an empty layer owns the next layer.
func (h *Handler) fillConfig(ctx context.Context, d *manifestData, name string, m *v1.Manifest) {
	b, err := h.reg.ReadBlob(ctx, name, m.Config.Digest.String(), maxConfig)
	if err != nil {
		d.ConfigErr = "The config blob could not be read."
		return
	}
	d.RawConfig = prettyJSON(b)
	cfg, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		d.ConfigErr = "The config blob is not a valid image config."
		return
	}
	d.Config = cfg
	li := 0
	for _, hi := range cfg.History {
		row := historyRow{Created: hi.Created.Time, CreatedBy: hi.CreatedBy, Comment: hi.Comment, Empty: hi.EmptyLayer}
		if !hi.EmptyLayer && li < len(m.Layers) {
			row.Size, row.HasSize = m.Layers[li].Size, true
			li++
		}
		d.History = append(d.History, row)
	}
}

type deleteData struct {
	Repo, Ref string
	IsTag     bool
	Tags      []string // tags that go with a manifest
	CSRF      string
	Action    string
	Cancel    string
}

// delete shows the confirmation (GET) and deletes (POST). The reference is
// a tag or a digest, in the form's "ref" field or the query.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, name string) {
	if !h.reg.CanDelete(r, name) {
		h.fail(w, r, http.StatusForbidden, "Deleting is not possible here: the registry does not allow it or you may not delete in this repository.")
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if !h.csrfOK(r) {
			h.fail(w, r, http.StatusForbidden, "The form expired or came from another site; open the delete page again.")
			return
		}
		ref := r.PostFormValue("ref")
		if err := h.reg.Delete(r, name, ref); err != nil {
			h.failErr(w, r, "tag or manifest", err)
			return
		}
		h.sums.forget(name)
		h.counts.put(name, tagCount{}) // stale: read again on the next list
		http.Redirect(w, r, h.link(pathRepo+name, "deleted", ref), http.StatusSeeOther)
		return
	}
	repo, err := h.reg.Repository(r.Context(), name)
	if err != nil {
		h.failErr(w, r, "repository", err)
		return
	}
	ref := r.URL.Query().Get("ref")
	d := deleteData{Repo: name, Ref: ref, CSRF: h.csrfToken(w, r), Action: h.link(pathRepo + name + "/-/delete"),
		Cancel: h.link(pathRepo + name)}
	if strings.Contains(ref, ":") {
		if _, ok := repo.Manifest(ref); !ok {
			h.fail(w, r, http.StatusNotFound, "There is no such manifest in this repository.")
			return
		}
		d.Tags = repo.TagsOf(ref)
		d.Cancel = h.link(pathRepo + name + "/-/manifest/" + ref)
	} else {
		if _, ok := repo.Tag(ref); !ok {
			h.fail(w, r, http.StatusNotFound, "There is no such tag in this repository.")
			return
		}
		d.IsTag = true
		d.Cancel = h.link(pathRepo + name + "/-/tag/" + ref)
	}
	h.render(w, r, http.StatusOK, "delete", d)
}

// sortedKeys lists a map's keys in order, for labels and env.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
