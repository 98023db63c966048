package engineapi

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Archives: GET /images/get (docker save), POST /images/load (docker
// load) and the import half of POST /images/create (docker import).

// SaveFunc writes the images names name as one Docker archive to w, as
// `berth save` does; a missing image fails before anything is written.
type SaveFunc func(ctx context.Context, st *store.Store, w io.Writer, names []string, platform *v1.Platform) error

// LoadFunc stores the archive read from r, as `berth load` does, and
// reports Docker's lines ("Loaded image: NAME") to emit. On failure it has
// closed st and left the store as it was.
type LoadFunc func(ctx context.Context, st *store.Store, r io.Reader, platform *v1.Platform, emit func(string)) error

// ImportOptions are what POST /images/create?fromSrc= passes to ImportFunc.
type ImportOptions struct {
	Names    []string // full references
	Changes  []string // Dockerfile instructions
	Message  string
	Source   string // "-" or the URL, for the history comment
	Platform *v1.Platform
}

// ImportFunc makes a one-layer image of the root file system tar read from
// r, as `berth import` does.
type ImportFunc func(ctx context.Context, st *store.Store, r io.Reader, o ImportOptions) (store.Image, error)

func (s *Server) saveImages(w http.ResponseWriter, r *http.Request, name string) error {
	if s.cfg.Save == nil {
		return errImagesOnly
	}
	names := r.Form["names"]
	if name != "" {
		names = []string{name}
	}
	if len(names) == 0 {
		return badRequest(errors.New("no image names given: use ?names=NAME (several times for several images)"))
	}
	plat, err := platformParam(r.FormValue("platform"))
	if err != nil {
		return err
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	// The archive is the body; until its first byte the answer can still
	// be an error with a status (a missing image is found before that).
	out := &lazyWriter{w: w, contentType: "application/x-tar"}
	if err := s.cfg.Save(r.Context(), st, out, names, plat); err != nil {
		if !out.started {
			return noSuchImage(err, strings.Join(names, ", "))
		}
		// Mid-archive the client can only be told by a cut stream.
		s.log.Warn("save failed mid-archive", "names", names, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// lazyWriter sends the status and content type with the first byte.
type lazyWriter struct {
	w           http.ResponseWriter
	contentType string
	started     bool
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", l.contentType)
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(b)
}

func (s *Server) loadImages(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.cfg.Load == nil {
		return errImagesOnly
	}
	plat, err := platformParam(r.FormValue("platform"))
	if err != nil {
		return err
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	out := newStream(w)
	err = s.cfg.Load(r.Context(), st, r.Body, plat, func(line string) { _ = out.Stream(line + "\n") })
	if err != nil {
		out.fail(badArchive(err))
	}
	return nil
}

// badArchive makes an archive berth refuses a 400: the client sent it.
func badArchive(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return badRequest(err)
}

// importImage is POST /images/create with fromSrc: "-" is the request body,
// anything else a URL the server downloads (http:// added when there is no
// scheme, as the daemon does). A local path is never read: the file system
// is the server's, not the client's.
func (s *Server) importImage(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Import == nil {
		return errImagesOnly
	}
	src := r.FormValue("fromSrc")
	o := ImportOptions{Changes: r.Form["changes"], Message: r.FormValue("message"), Source: src}
	if repo := r.FormValue("repo"); repo != "" {
		n := repo
		if tag := r.FormValue("tag"); tag != "" {
			n += ":" + tag
		}
		p, err := ref.Parse(n)
		if err != nil {
			return badRequest(err)
		}
		o.Names = []string{ref.FullName(p)}
	}
	plat, err := platformParam(r.FormValue("platform"))
	if err != nil {
		return err
	}
	o.Platform = plat
	var body io.Reader = r.Body
	out := newStream(w)
	if src != "-" {
		if !strings.Contains(src, "://") {
			src = "http://" + src
		}
		u, err := url.Parse(src)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return badRequest(fmt.Errorf("invalid fromSrc %q: use - (the request body) or an http(s) URL", r.FormValue("fromSrc")))
		}
		o.Source = u.String()
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
		if err != nil {
			return badRequest(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("downloading %s: %w", u, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("downloading %s: %s", u, untrusted.Text(resp.Status))
		}
		_ = out.StatusLine("Downloading from " + u.String())
		body = resp.Body
	}
	st, err := s.cfg.OpenStore(r.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	img, err := s.cfg.Import(r.Context(), st, body, o)
	if err != nil {
		out.fail(badArchive(err))
		return nil
	}
	_ = out.StatusLine(img.ID.String())
	return nil
}

// createImage is POST /images/create: a pull with fromImage, an import
// with fromSrc.
func (s *Server) createImage(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.FormValue("fromImage") != "" {
		return s.pullImage(w, r)
	}
	if r.FormValue("fromSrc") == "" {
		return badRequest(errors.New("fromImage (a pull) or fromSrc (an import) is required"))
	}
	return s.importImage(w, r)
}
