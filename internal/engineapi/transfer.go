package engineapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
)

// Registries: POST /images/create?fromImage= (pull), POST
// /images/{name}/push, GET /images/search and POST /auth. Each builds a
// registry client that holds only the credentials the request carried.

// PullFunc pulls into st as `berth pull` does (the store as the pull's
// sink, resumable downloads kept where the command keeps them).
type PullFunc func(ctx context.Context, st *store.Store, c *remote.Client, o remote.PullImageOptions, ev remote.Events) (*remote.PullImageResult, error)

// Message is remote.Events: a line about an image as a whole ("Pulling
// from library/busybox" for id "latest", "Digest: …", "Status: …").
func (s *stream) Message(id, text string) {
	_ = s.send(message{Message: jsonstream.Message{ID: id, Status: text}})
}

// client builds a registry client for one request: the single
// X-Registry-Auth credential applies to host.
func (s *Server) client(r *http.Request, host string) (*remote.Client, error) {
	if s.cfg.Remote == nil {
		return nil, errImagesOnly
	}
	ac, err := registryAuth(r.Header.Get(registry.AuthHeader))
	if err != nil {
		return nil, err
	}
	return s.cfg.Remote(credentialsFor(host, ac, nil))
}

// registryWork checks the reference a pull or push names and gives what
// the work needs: the platform asked for, a client with the request's
// credentials for that registry, and the store (the caller closes it).
func (s *Server) registryWork(r *http.Request, reference string) (*v1.Platform, *remote.Client, *store.Store, error) {
	p, err := ref.Parse(reference)
	if err != nil {
		return nil, nil, nil, badRequest(err)
	}
	plat, err := platformParam(r.FormValue("platform"))
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := s.client(r, p.Context().RegistryStr())
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return nil, nil, nil, err
	}
	return plat, c, st, nil
}

func (s *Server) pullImage(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Pull == nil {
		return errImagesOnly
	}
	// "pull -a" may send a trailing ":"; the daemon ignores it.
	name := strings.TrimSuffix(r.FormValue("fromImage"), ":")
	tag := r.FormValue("tag")
	o := remote.PullImageOptions{Ref: name}
	switch {
	case tag == "" && !remote.ExplicitTag(name) && !strings.Contains(name, "@"):
		// A bare repository is `docker pull -a` (the CLI sends
		// tag=latest for a plain pull), as the daemon reads it.
		o.AllTags = true
	case strings.HasPrefix(tag, "sha256:"):
		o.Ref = name + "@" + tag
	case tag != "":
		o.Ref = name + ":" + tag
	}
	plat, c, st, err := s.registryWork(r, o.Ref)
	if err != nil {
		return err
	}
	defer st.Close()
	o.Platform = plat
	out := newStream(w)
	if _, err := s.cfg.Pull(r.Context(), st, c, o, out); err != nil {
		out.fail(err)
	}
	return nil
}

func (s *Server) pushImage(w http.ResponseWriter, r *http.Request, name string) error {
	o := remote.PushImageOptions{Ref: name}
	if tag := r.FormValue("tag"); tag != "" {
		o.Ref = name + ":" + tag
	} else if !remote.ExplicitTag(name) {
		o.AllTags = true // docker push -a
	}
	plat, c, st, err := s.registryWork(r, o.Ref)
	if err != nil {
		return err
	}
	defer st.Close()
	o.Platform = plat
	out := newStream(w)
	out.bytesStatus = "Pushing"
	res, err := c.PushImage(r.Context(), o, st, out)
	if res != nil {
		for _, p := range res.Images {
			_ = out.Aux(map[string]any{"Tag": p.Tag, "Digest": p.Digest.String(), "Size": p.Size})
		}
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "An image does not exist locally") {
			err = notFound(err)
		}
		out.fail(err)
	}
	return nil
}

func (s *Server) searchImages(w http.ResponseWriter, r *http.Request, _ string) error {
	o := remote.SearchOptions{Term: r.FormValue("term"), Limit: 25}
	if o.Term == "" {
		return badRequest(errors.New("a search term is required (term=)"))
	}
	if l := r.FormValue("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return badRequest(fmt.Errorf("invalid limit specified: %q", l))
		}
		if n > 0 {
			o.Limit = n
		}
	}
	if err := o.Check(); err != nil {
		return badRequest(err)
	}
	fs, err := parseFilters(r.FormValue("filters"))
	if err != nil {
		return err
	}
	var kv []string
	for _, f := range fs {
		kv = append(kv, f.Key+"="+f.Value)
	}
	if o.Filter, err = remote.ParseSearchFilter(kv); err != nil {
		return badRequest(err)
	}
	host, _ := remote.SplitSearchTerm(o.Term)
	if host == "" {
		host = "index.docker.io"
	}
	c, err := s.client(r, host)
	if err != nil {
		return err
	}
	res, err := c.Search(r.Context(), o)
	if err != nil {
		return err
	}
	// is_automated is left out: the API has sent it as false since 1.44.
	out := make([]registry.SearchResult, 0, len(res))
	for _, x := range res {
		out = append(out, registry.SearchResult{Name: x.Name, Description: x.Description, StarCount: x.StarCount, IsOfficial: x.IsOfficial})
	}
	return writeJSON(w, http.StatusOK, out)
}

// maxJSONBody bounds the JSON documents the API reads (credentials).
const maxJSONBody = 1 << 20

// auth is POST /auth: the credentials are checked against the registry as
// `berth login` checks them; storing them is the client's business (the
// docker CLI writes its own config.json).
func (s *Server) auth(w http.ResponseWriter, r *http.Request, _ string) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxJSONBody {
		return withStatus(http.StatusRequestEntityTooLarge, errors.New("request body too large"))
	}
	if s.cfg.Remote == nil {
		return errImagesOnly
	}
	var ac registry.AuthConfig
	if err := json.Unmarshal(body, &ac); err != nil {
		return badRequest(fmt.Errorf("invalid JSON: %w", err))
	}
	e := authEntry(ac)
	host := remote.RegistryHost(ac.ServerAddress)
	if e.Username == "" || e.Password == "" {
		return badRequest(errors.New("username and password are required"))
	}
	c, err := s.cfg.Remote(map[string]remote.AuthEntry{remote.ConfigHost(host): e})
	if err != nil {
		return err
	}
	tok, err := c.CheckLogin(r.Context(), host, e.Username, e.Password)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registry.AuthResponse{Status: "Login Succeeded", IdentityToken: tok})
}
