package engineapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	bbuild "github.com/berth-dev/berth/internal/build"
	bimage "github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The local image endpoints. Each opens the store for the request and
// calls the store function the matching berth command calls.

// boolValue reads a query flag as the daemon does: "", 0, no, false and
// none are false, anything else true.
func boolValue(r *http.Request, k string) bool {
	switch strings.ToLower(strings.TrimSpace(r.FormValue(k))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// parseFilters reads the filters parameter: {"key":{"value":true}} as
// clients send it since API 1.22, or {"key":["value"]}, the older form.
// The result is sorted, so the same request filters the same way.
func parseFilters(s string) (store.Filters, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, badRequest(fmt.Errorf("invalid filter: %w", err))
	}
	var fs store.Filters
	for k, v := range raw {
		var set map[string]bool
		if err := json.Unmarshal(v, &set); err == nil {
			for val, on := range set {
				if on {
					fs = append(fs, store.Filter{Key: k, Value: val})
				}
			}
			continue
		}
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, badRequest(fmt.Errorf("invalid filter %q: want {\"value\":true} or [\"value\"]", k))
		}
		for _, val := range list {
			fs = append(fs, store.Filter{Key: k, Value: val})
		}
	}
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Key != fs[j].Key {
			return fs[i].Key < fs[j].Key
		}
		return fs[i].Value < fs[j].Value
	})
	return fs, nil
}

// filterError makes a bad filter a 400, worded by the store as the daemon
// words it ("invalid filter 'x'").
func filterError(err error) error {
	if err != nil && strings.HasPrefix(err.Error(), "invalid ") {
		return badRequest(err)
	}
	return err
}

func ociDescriptor(d v1.Descriptor) *ocispec.Descriptor {
	return &ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size}
}

// summary is one image of /images/json and /system/df. Containers and
// SharedSize are -1 where they were not computed, as the daemon sends them.
func summary(s store.Summary, size, shared int64) image.Summary {
	labels := s.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return image.Summary{
		Containers:  -1,
		Created:     s.Created.Unix(),
		ID:          s.ID.String(),
		Labels:      labels,
		ParentID:    s.ParentID,
		Descriptor:  ociDescriptor(s.Descriptor()),
		RepoDigests: s.RepoDigests,
		RepoTags:    s.RepoTags,
		SharedSize:  shared,
		Size:        size,
	}
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request, _ string) error {
	fs, err := parseFilters(r.FormValue("filters"))
	if err != nil {
		return err
	}
	// API 1.24 clients may still send the old "filter" (a reference glob).
	if f := r.FormValue("filter"); f != "" {
		fs = append(fs, store.Filter{Key: "reference", Value: f})
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	// The unfiltered list is what clients poll (docker images, IDEs):
	// it is answered from the last one while the index is unchanged.
	var stamp string
	if len(fs) == 0 {
		if stamp, err = st.IndexStamp(); err == nil {
			if body, ok := s.lists.get(stamp); ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				_, err := w.Write(body)
				return err
			}
		}
	}
	// all=1 changes nothing: berth keeps no intermediate images.
	list, err := st.List(r.Context(), store.ListOptions{Filters: fs})
	if err != nil {
		return filterError(err)
	}
	out := make([]image.Summary, 0, len(list))
	for _, img := range list {
		size := img.Size
		// Docker's Size is the files', as berth images prints it.
		if n, err := st.ImageContentSize(r.Context(), img.Image); err == nil {
			size = n
		}
		out = append(out, summary(img, size, -1))
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	body = append(body, '\n')
	if stamp != "" {
		s.lists.put(stamp, body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}

// listCache keeps the last unfiltered GET /images/json answer with the
// index version it was made from (store.IndexStamp): a stamp taken before
// the List means the answer is at least that new.
type listCache struct {
	mu    sync.Mutex
	stamp string
	body  []byte
}

func (c *listCache) get(stamp string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.body, c.body != nil && c.stamp == stamp
}

func (c *listCache) put(stamp string, body []byte) {
	c.mu.Lock()
	c.stamp, c.body = stamp, body
	c.mu.Unlock()
}

func (s *Server) inspectImage(w http.ResponseWriter, r *http.Request, name string) error {
	plat, err := platformParam(r.FormValue("platform"))
	if err != nil {
		return err
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := st.Inspect(r.Context(), name, store.InspectOptions{Platform: plat})
	if err != nil {
		return noSuchImage(err, name)
	}
	return writeJSON(w, http.StatusOK, Inspect(d))
}

func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) error {
	plat, err := platformParam(r.FormValue("platform"))
	if err != nil {
		return err
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	h, err := st.History(r.Context(), name, store.HistoryOptions{Platform: plat})
	if err != nil {
		return noSuchImage(err, name)
	}
	out := make([]image.HistoryResponseItem, 0, len(h))
	for _, e := range h {
		out = append(out, image.HistoryResponseItem{Comment: e.Comment, Created: e.Created.Unix(), CreatedBy: e.CreatedBy, ID: e.ID, Size: e.Size, Tags: e.Tags})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) tagImage(w http.ResponseWriter, r *http.Request, name string) error {
	repo, tag := r.FormValue("repo"), r.FormValue("tag")
	if repo == "" {
		return badRequest(errors.New("repository name must have at least one component"))
	}
	if strings.Contains(repo, "@") {
		return badRequest(fmt.Errorf("invalid reference format: %s: a tag cannot name a digest", repo))
	}
	if repo == "sha256" {
		return badRequest(errors.New("refusing to create an ambiguous tag using digest algorithm as name"))
	}
	target := repo
	if tag != "" {
		target += ":" + tag
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.TagImage(r.Context(), name, target); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return noSuchImage(err, name)
		}
		return badRequest(err)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request, name string) error {
	if strings.TrimSpace(name) == "" {
		return badRequest(errors.New("image name cannot be blank"))
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	res, gcErr := st.RemoveImages(r.Context(), []string{name}, store.RemoveOptions{Force: boolValue(r, "force"), NoPrune: boolValue(r, "noprune")})
	if gcErr != nil {
		s.log.Debug("gc after image delete", "err", gcErr)
	}
	if len(res) != 1 {
		return errors.New("removing " + name + ": no result")
	}
	if res[0].Err != nil {
		return noSuchImage(res[0].Err, name)
	}
	return writeJSON(w, http.StatusOK, deleteResponses(res[0].Events))
}

func deleteResponses(events []store.Event) []image.DeleteResponse {
	out := make([]image.DeleteResponse, 0, len(events))
	for _, e := range events {
		if e.Untagged != "" {
			out = append(out, image.DeleteResponse{Untagged: e.Untagged})
		} else {
			out = append(out, image.DeleteResponse{Deleted: e.Deleted.String()})
		}
	}
	return out
}

func (s *Server) pruneImages(w http.ResponseWriter, r *http.Request, _ string) error {
	fs, err := parseFilters(r.FormValue("filters"))
	if err != nil {
		return err
	}
	// The docker CLI says dangling=true for `image prune` and
	// dangling=false for `image prune -a`: that is PruneOptions.All.
	opts := store.PruneOptions{}
	for _, f := range fs {
		if f.Key != "dangling" {
			opts.Filters = append(opts.Filters, f)
			continue
		}
		b, err := strconv.ParseBool(f.Value)
		if err != nil {
			return badRequest(fmt.Errorf("invalid filter 'dangling=%s'", f.Value))
		}
		opts.All = !b
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := st.Prune(r.Context(), opts)
	if err != nil {
		return filterError(err)
	}
	out := image.PruneReport{ImagesDeleted: deleteResponses(rep.Events), SpaceReclaimed: uint64(max(rep.Reclaimed, 0))}
	if len(out.ImagesDeleted) == 0 {
		out.ImagesDeleted = nil // the daemon sends null, which the CLI reads as "nothing"
	}
	return writeJSON(w, http.StatusOK, out)
}

// noSuchImage words a missing image as the daemon does ("No such image:
// NAME"), which the docker CLI and docker-py recognise; other errors pass.
func noSuchImage(err error, name string) error {
	if errors.Is(err, store.ErrNotFound) && strings.HasPrefix(err.Error(), "no such image") {
		return notFound(daemonMessage("No such image: " + strings.TrimPrefix(err.Error(), "no such image: ")))
	}
	return err
}

func platformParam(s string) (*v1.Platform, error) {
	if s == "" {
		return nil, nil
	}
	// API clients send either os/arch[/variant] or an OCI platform as JSON.
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		var p ocispec.Platform
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			return nil, badRequest(fmt.Errorf("invalid platform: %w", err))
		}
		return &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion}, nil
	}
	p, err := bimage.ParsePlatform(s)
	if err != nil {
		return nil, badRequest(err)
	}
	return p, nil
}

// diskUsage is GET /system/df as API 1.50 answers it. moby's module
// describes the API 1.52 shape (ImageUsage, ContainerUsage… with totals);
// 1.50 clients read these top-level lists, so the legacy shape is spelt
// here. berth has no containers or volumes: their lists are empty.
type diskUsage struct {
	LayersSize int64
	Images     []image.Summary
	Containers []struct{}
	Volumes    []struct{}
	BuildCache []build.CacheRecord
}

// cacheRecord is a build cache record in the Engine API's shape. berth's
// records are never in use by a running build once listed, nor shared
// between records, so the docker CLI's Build Cache row counts them all as
// reclaimable, as `berth system df` does.
func cacheRecord(r bbuild.CacheRecord) build.CacheRecord {
	out := build.CacheRecord{ID: r.ID, Type: r.Type, Description: r.Description, Size: r.Size, CreatedAt: r.Created, UsageCount: r.UsageCount}
	if !r.LastUsed.IsZero() {
		t := r.LastUsed
		out.LastUsedAt = &t
	}
	return out
}

func (s *Server) systemDF(w http.ResponseWriter, r *http.Request, _ string) error {
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.DiskUsage(r.Context())
	if err != nil {
		return err
	}
	out := diskUsage{LayersSize: u.LayersSize, Images: []image.Summary{}, Containers: []struct{}{}, Volumes: []struct{}{}, BuildCache: []build.CacheRecord{}}
	for _, iu := range u.Images {
		sum := summary(iu.Summary, iu.Size, iu.SharedSize)
		sum.Containers = int64(iu.Containers)
		out.Images = append(out.Images, sum)
	}
	if s.cfg.BuildCacheUsage != nil {
		recs, err := s.cfg.BuildCacheUsage(r.Context(), st)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			out.BuildCache = append(out.BuildCache, cacheRecord(rec))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}
