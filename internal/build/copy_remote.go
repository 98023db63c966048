package build

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/build/remotecontext"
)

// ADD sources that are not in the context: http(s) URLs and Git repositories.

// remoteSources are an ADD step's URL and Git sources, fetched once each.
type remoteSources struct {
	urls    map[string]*download
	gits    map[string]*gitCheckout
	commits [][2]string // Git source → the commit its key was made with
}

func (r *remoteSources) cleanup() {
	for _, d := range r.urls {
		if d != nil {
			os.Remove(d.path)
		}
	}
	for _, g := range r.gits {
		os.RemoveAll(g.root)
	}
}

// git returns the checkout of Git source s, cloning it at the commit the
// step's key was made with (not whatever the ref names by now).
func (r *remoteSources) git(ctx context.Context, b *Builder, s string, keep bool) (*gitCheckout, error) {
	if g, ok := r.gits[s]; ok {
		return g, nil
	}
	commit := ""
	for _, c := range r.commits {
		if c[0] == s {
			commit = c[1]
		}
	}
	g, err := b.cloneGit(ctx, s, commit, keep)
	if err != nil {
		return nil, err
	}
	r.gits[s] = g
	return g, nil
}

// gitCheckout is a Git source cloned into the build's temp dir.
type gitCheckout struct {
	root   string // the clone
	dir    string // root, or the subdirectory the URL named
	commit string
}

// cloneGit clones Git source s (at commit when given), drops .git unless
// keep, and names the commit checked out.
func (b *Builder) cloneGit(ctx context.Context, s, commit string, keep bool) (*gitCheckout, error) {
	root, err := os.MkdirTemp(b.tempDir(), "git-")
	if err != nil {
		return nil, err
	}
	url := s
	if commit != "" {
		g, err := remotecontext.ParseGitURL(s)
		if err != nil {
			os.RemoveAll(root)
			return nil, err
		}
		url = g.Remote + "#" + commit
		if g.Subdir != "" {
			url += ":" + g.Subdir
		}
	}
	dir, err := remotecontext.Clone(ctx, url, root)
	if err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("ADD %s: %w", s, err)
	}
	head, err := remotecontext.Head(ctx, root)
	if err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	if !keep {
		if err := os.RemoveAll(filepath.Join(root, ".git")); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
	}
	return &gitCheckout{root: root, dir: dir, commit: head}, nil
}

// download is an ADD URL source fetched into the build's temp dir.
type download struct {
	path    string
	digest  string // sha256:… of the content
	size    int64
	modTime time.Time // Last-Modified, else zero
}

// fetchURL downloads src into a temp file, verifying checksum when given.
func (b *Builder) fetchURL(ctx context.Context, src, checksum string) (*download, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %s: %w", src, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", src, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("downloading %s: %s", src, untrusted.Text(resp.Status))
	}
	tmp, err := os.CreateTemp(b.tempDir(), "add-")
	if err != nil {
		return nil, err
	}
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("downloading %s: %w", src, err)
	}
	d := &download{path: tmp.Name(), digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), size: n}
	if checksum != "" && checksum != d.digest {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("digest mismatch for %s: expected %s, got %s", src, checksum, d.digest)
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		d.modTime = lm
	}
	return d, nil
}

// addURL writes a downloaded ADD source into the layer; the file is 0600
// like Docker's, dated by Last-Modified.
func (cw *copyWriter) addURL(src string, d *download, destRel string, destIsDir bool) error {
	u, err := url.Parse(src)
	if err != nil {
		return fmt.Errorf("invalid URL %s: %w", src, err)
	}
	target := destRel
	if destIsDir {
		name := path.Base(u.Path)
		if name == "." || name == "/" || name == "" {
			return errors.New("cannot determine filename from url: " + src)
		}
		target = strings.TrimPrefix(path.Join(destRel, name), "/")
	}
	mt := cw.b.now
	if !d.modTime.IsZero() {
		mt = d.modTime
	}
	mode := fs.FileMode(0o600)
	if cw.chmod != nil {
		mode = *cw.chmod
	}
	f, err := os.Open(d.path)
	if err != nil {
		return err
	}
	defer f.Close()
	return cw.write(&tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: int64(mode), Size: d.size, Uid: cw.uid, Gid: cw.gid, ModTime: mt}, f)
}
