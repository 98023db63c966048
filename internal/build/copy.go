package build

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/build/remotecontext"
	"github.com/berth-dev/berth/internal/dockerfile"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

type copyArgs struct {
	cmd      instructions.Command
	add      bool
	sd       instructions.SourcesAndDest
	from     string
	chown    string
	chmod    string
	link     bool
	parents  bool
	exclude  []string
	checksum string
	unpack   *bool
	keepGit  bool // ADD --keep-git-dir
	src      string
}

// copySource is where COPY reads files: the context, or a stage/image
// extracted to a directory (with the owners its tar entries had).
type copySource struct {
	fs       *contextFS
	owners   map[string][2]int
	fromTree bool // fs is a layer tree: regular files are deferred
}

func (b *Builder) copyStep(ctx context.Context, st *stageState, id string, a copyArgs) error {
	word := "COPY"
	if a.add {
		word = "ADD"
	}
	createdBy := word
	if a.parents {
		createdBy += " --parents"
	}
	if a.chown != "" {
		createdBy += " --chown=" + a.chown
	}
	if a.chmod != "" {
		createdBy += " --chmod=" + a.chmod
	}
	for _, s := range a.sd.SourcePaths {
		createdBy += " " + s
	}
	for _, s := range a.sd.SourceContents {
		createdBy += " <<" + s.Path
	}
	createdBy += " " + a.sd.DestPath
	text := stepText(a.cmd)
	rec := &stepRecord{Text: text}

	var keyParts []string
	var excl *dockerfile.Ignore
	if len(a.exclude) > 0 {
		var err error
		if excl, err = dockerfile.NewIgnore(a.exclude); err != nil {
			return err
		}
	}
	src := copySource{fs: b.ctxfs}
	// ADD URL sources: without --checksum the content is only known by
	// fetching it, so it is fetched now and its digest keys the cache (a
	// changed file is a miss, not a stale hit); with --checksum the
	// checksum is the key and the fetch waits until the step runs. Git
	// sources are keyed by the commit their ref names now.
	remote := &remoteSources{urls: map[string]*download{}, gits: map[string]*gitCheckout{}}
	defer remote.cleanup()
	var fromLayers []Layer
	cfs := b.ctxfs // the directory files come from: the context or a named one
	namedFS, fromDir := b.namedDir(a.from, st.sp.Index)
	if fromDir {
		cfs = namedFS
		src = copySource{fs: namedFS}
		keyParts = append(keyParts, "context:"+strings.ToLower(a.from))
	}
	if a.from != "" && !fromDir {
		var err error
		if fromLayers, err = b.fromLayers(ctx, a.from, st.sp.Index); err != nil {
			return err
		}
		k, err := b.fromKey(ctx, a.from, st.sp.Index, fromLayers, a.sd.SourcePaths, excl)
		if err != nil {
			return err
		}
		keyParts = append(keyParts, k)
	} else {
		rec.Files = map[string]string{}
		for _, s := range a.sd.SourcePaths {
			if a.add && remotecontext.IsGitURL(s) {
				commit, err := remotecontext.ResolveCommit(ctx, s)
				if err != nil {
					return err
				}
				if commit == "" { // an abbreviated hash: only a clone tells
					g, err := b.cloneGit(ctx, s, "", a.keepGit)
					if err != nil {
						return err
					}
					remote.gits[s], commit = g, g.commit
				}
				keyParts = append(keyParts, fmt.Sprintf("git:%s@%s keep=%v", s, commit, a.keepGit))
				rec.Files[s] = commit
				remote.commits = append(remote.commits, [2]string{s, commit})
				continue
			}
			if a.add && remotecontext.IsURL(s) {
				if a.checksum != "" {
					remote.urls[s] = nil
					keyParts = append(keyParts, "url:"+s+"@"+a.checksum)
					continue
				}
				d, err := b.fetchURL(ctx, s, "")
				if err != nil {
					return err
				}
				remote.urls[s] = d
				keyParts = append(keyParts, "url:"+s+"@"+d.digest+"@"+d.modTime.UTC().Format(time.RFC3339))
				rec.Files[s] = d.digest // a miss then says "1 file changed: URL"
				continue
			}
			if err := hashSources(ctx, cfs, s, excl, rec.Files); err != nil {
				return err
			}
		}
		keyParts = append(keyParts, filesKey(rec.Files))
	}
	for _, c := range a.sd.SourceContents {
		keyParts = append(keyParts, "heredoc:"+c.Path+"\x00"+c.Data)
	}
	keyParts = append(keyParts, a.src, st.cfg.Config.WorkingDir)

	return b.layerStepLinked(ctx, st, id, text, createdBy+" # buildkit", rec, keyParts, a.link, func(ctx context.Context, v *vertex) (*Layer, error) {
		tree, err := b.stageTree(ctx, st)
		if err != nil {
			return nil, err
		}
		if a.link {
			// A linked layer is made as if onto an empty filesystem: new
			// parent directories, nothing of the base in it. (Owner names
			// still resolve against the stage's passwd and group.)
			tree = &fsTree{m: map[string]*tar.Header{}, from: map[string]int{}, passwd: tree.passwd, group: tree.group}
		}
		var srcTree *fsTree
		if fromLayers != nil {
			if srcTree, err = b.treeOf(ctx, fromLayers); err != nil {
				return nil, err
			}
			var ok bool
			if src, ok = treeSource(srcTree); !ok {
				// Hard links need their targets on disk: unpack.
				dir, err := os.MkdirTemp(b.tempDir(), "from-")
				if err != nil {
					return nil, err
				}
				defer os.RemoveAll(dir)
				owners, err := b.extractLayers(ctx, fromLayers, dir)
				if err != nil {
					return nil, err
				}
				src = copySource{fs: newContextFS(dir, nil, ""), owners: owners}
			}
		}
		lw, err := b.newLayerWriter(ctx)
		if err != nil {
			return nil, err
		}
		deferred, err := b.writeCopy(ctx, lw, tree, st, a, src, excl, remote)
		if err == nil {
			err = b.streamDeferred(ctx, lw, srcTree, fromLayers, deferred)
		}
		if err != nil {
			lw.Abort(err)
			return nil, err
		}
		l, ok, err := lw.Close()
		if err != nil || !ok {
			return nil, err
		}
		return &l, nil
	})
}

// hashSources records in files (path → "mode:digest") every file src
// names in cfs (a path or pattern; a directory with all under it), minus
// what excl leaves out.
func hashSources(ctx context.Context, cfs *contextFS, src string, excl *dockerfile.Ignore, files map[string]string) error {
	ents, err := matchSources(cfs, src, excl)
	if err != nil {
		return err
	}
	for _, f := range ents {
		d, err := cfs.digestOf(ctx, f)
		if err != nil {
			return err
		}
		files[f.rel] = fmt.Sprintf("%o:%s", f.info.Mode(), d)
	}
	return nil
}

// matchSources is every entry src names in cfs (a path or pattern, links
// named followed; a directory with all under it), minus what excl leaves
// out. The root itself is in it only when src names the root.
func matchSources(cfs *contextFS, src string, excl *dockerfile.Ignore) ([]*ctxEntry, error) {
	ents, err := cfs.match(src)
	if err != nil {
		return nil, err
	}
	var out []*ctxEntry
	for _, e := range ents {
		e = cfs.follow(e)
		for _, f := range append([]*ctxEntry{e}, cfs.under(e.rel)...) {
			if f.rel == "" || (excl != nil && excl.Excluded(relTo(e.rel, f.rel))) {
				continue
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// filesKey is one cache key part for a set of files and their digests.
func filesKey(files map[string]string) string {
	names := make([]string, 0, len(files))
	for k := range files {
		names = append(names, k)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, k := range names {
		fmt.Fprintf(h, "%s\x00%s\n", k, files[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func relTo(root, p string) string {
	if root == "" {
		return p
	}
	if p == root {
		return path.Base(p)
	}
	return strings.TrimPrefix(p, root+"/")
}

type copyWriter struct {
	deferred []deferredFile
	b        *Builder
	lw       *layerWriter
	tree     *fsTree
	written  map[string]bool
	uid      int
	gid      int
	chown    bool
	chmod    *fs.FileMode
	inodes   map[uint64]string // source inode → first target written (hard links)
}

func (b *Builder) writeCopy(ctx context.Context, lw *layerWriter, tree *fsTree, st *stageState, a copyArgs, src copySource, excl *dockerfile.Ignore, remote *remoteSources) ([]deferredFile, error) {
	cw, err := b.writeCopyEntries(ctx, lw, tree, st, a, src, excl, remote)
	if err != nil {
		return nil, err
	}
	return cw.deferred, nil
}

func (b *Builder) writeCopyEntries(ctx context.Context, lw *layerWriter, tree *fsTree, st *stageState, a copyArgs, src copySource, excl *dockerfile.Ignore, remote *remoteSources) (*copyWriter, error) {
	cw := &copyWriter{b: b, lw: lw, tree: tree, written: map[string]bool{}}
	if a.chown != "" {
		uid, gid, err := resolveOwner(tree, a.chown)
		if err != nil {
			return nil, err
		}
		cw.uid, cw.gid, cw.chown = uid, gid, true
	}
	if a.chmod != "" {
		m, err := strconv.ParseUint(a.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return nil, fmt.Errorf("invalid chmod parameter: %s", a.chmod)
		}
		fm := fs.FileMode(m)
		cw.chmod = &fm
	}
	dest := a.sd.DestPath
	if !path.IsAbs(dest) {
		dest = path.Join(orRoot(st.cfg.Config.WorkingDir), dest)
	}
	nsrc := len(a.sd.SourcePaths) + len(a.sd.SourceContents)
	destIsDir := strings.HasSuffix(a.sd.DestPath, "/") || a.sd.DestPath == "." || nsrc > 1 || tree.isDir(dest)
	for _, s := range a.sd.SourcePaths {
		if hasMeta(s) {
			destIsDir = true
		}
	}
	if nsrc > 1 && !strings.HasSuffix(a.sd.DestPath, "/") && !tree.isDir(dest) {
		//lint:ignore ST1005 Docker's exact wording
		return nil, fmt.Errorf("When using %s with more than one source file, the destination must be a directory and end with a /", map[bool]string{true: "ADD", false: "COPY"}[a.add])
	}
	destRel := tree.resolve(dest)
	parentOf := func(p string) string {
		d := path.Dir(p)
		if d == "." {
			return ""
		}
		return d
	}
	if destIsDir {
		if err := cw.mkdirs(destRel); err != nil {
			return nil, err
		}
	} else if err := cw.mkdirs(parentOf(destRel)); err != nil {
		return nil, err
	}
	join := func(elem ...string) string { return strings.TrimPrefix(path.Join(elem...), "/") }

	for _, s := range a.sd.SourcePaths {
		if a.add && remotecontext.IsGitURL(s) {
			g, err := remote.git(ctx, b, s, a.keepGit)
			if err != nil {
				return nil, err
			}
			// A repository is a directory: its contents go under dest.
			if err := cw.mkdirs(destRel); err != nil {
				return nil, err
			}
			gsrc := copySource{fs: newContextFS(g.dir, nil, "")}
			if err := gsrc.fs.load(); err != nil {
				return nil, err
			}
			for _, f := range gsrc.fs.under("") {
				if excl != nil && excl.Excluded(f.rel) {
					continue
				}
				if err := cw.entry(gsrc, f, join(destRel, f.rel)); err != nil {
					return nil, err
				}
			}
			continue
		}
		if a.add && remotecontext.IsURL(s) {
			d := remote.urls[s]
			if d == nil {
				var err error
				if d, err = b.fetchURL(ctx, s, a.checksum); err != nil {
					return nil, err
				}
				remote.urls[s] = d
			}
			if err := cw.addURL(s, d, destRel, destIsDir); err != nil {
				return nil, err
			}
			continue
		}
		ents, err := src.fs.match(s)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			// Hard links are kept within one source, as BuildKit copies
			// each source (and each match of a pattern) on its own.
			cw.inodes = nil
			name := e.rel
			e = src.fs.follow(e)
			if e.info.IsDir() {
				base := destRel
				if a.parents && e.rel != "" {
					base = join(destRel, trimPivot(s, e.rel))
				}
				if err := cw.mkdirs(base); err != nil {
					return nil, err
				}
				for _, f := range src.fs.under(e.rel) {
					r := relTo(e.rel, f.rel)
					if excl != nil && excl.Excluded(r) {
						continue
					}
					if err := cw.entry(src, f, join(base, r)); err != nil {
						return nil, err
					}
				}
				continue
			}
			if excl != nil && excl.Excluded(path.Base(name)) {
				continue
			}
			target := destRel
			switch {
			case a.parents:
				target = join(destRel, trimPivot(s, name))
				if err := cw.mkdirs(parentOf(target)); err != nil {
					return nil, err
				}
			case destIsDir:
				target = join(destRel, path.Base(name))
			}
			if a.add && e.info.Mode().IsRegular() && (a.unpack == nil || *a.unpack) {
				if ok, err := cw.maybeUntar(ctx, src.fs.abs(e.rel), destRel); err != nil || ok {
					if err != nil {
						return nil, err
					}
					continue
				}
			}
			if err := cw.entry(src, e, target); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range a.sd.SourceContents {
		target := destRel
		if destIsDir {
			target = join(destRel, path.Base(c.Path))
		}
		mode := fs.FileMode(0o644)
		if cw.chmod != nil {
			mode = *cw.chmod
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: int64(mode), Size: int64(len(c.Data)), Uid: cw.uid, Gid: cw.gid, ModTime: cw.b.now}
		if err := cw.write(h, strings.NewReader(c.Data)); err != nil {
			return nil, err
		}
	}
	return cw, nil
}

func (cw *copyWriter) mkdirs(rel string) error {
	if rel == "" || cw.written[rel] {
		return nil
	}
	if err := cw.mkdirs(parentDir(rel)); err != nil {
		return err
	}
	if h, ok := cw.tree.m[rel]; ok && h.Typeflag == tar.TypeDir {
		hh := *h
		hh.Name = rel + "/"
		cw.written[rel] = true
		return cw.lw.WriteHeader(&hh)
	}
	h := &tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755, Uid: cw.uid, Gid: cw.gid, ModTime: cw.b.now}
	cw.written[rel] = true
	cw.tree.m[rel] = h
	return cw.lw.WriteHeader(h)
}

func parentDir(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

func (cw *copyWriter) write(h *tar.Header, r io.Reader) error {
	if h.Typeflag == tar.TypeDir {
		if cw.written[strings.TrimSuffix(h.Name, "/")] {
			return nil
		}
		cw.written[strings.TrimSuffix(h.Name, "/")] = true
		if !strings.HasSuffix(h.Name, "/") {
			h.Name += "/"
		}
	}
	if err := cw.lw.WriteHeader(h); err != nil {
		return err
	}
	if r != nil && h.Typeflag == tar.TypeReg {
		if _, err := io.Copy(cw.lw, r); err != nil {
			return err
		}
	}
	return nil
}

// entry copies one source entry to target, keeping mode and mtime, owned by
// root (context) or its owner (another stage), unless --chown/--chmod.
func (cw *copyWriter) entry(src copySource, e *ctxEntry, target string) error {
	if target == "" {
		return nil
	}
	mode := e.info.Mode()
	h := &tar.Header{Name: target, Mode: int64(mode.Perm()), ModTime: e.info.ModTime()}
	if mode&fs.ModeSetuid != 0 {
		h.Mode |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		h.Mode |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		h.Mode |= 0o1000
	}
	if o, ok := src.owners[e.rel]; ok {
		h.Uid, h.Gid = o[0], o[1]
	}
	if cw.chown {
		h.Uid, h.Gid = cw.uid, cw.gid
	}
	if cw.chmod != nil {
		h.Mode = int64(*cw.chmod)
	}
	switch {
	case mode.IsDir():
		h.Typeflag = tar.TypeDir
		return cw.write(h, nil)
	case mode&fs.ModeSymlink != 0:
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		if e.link == "" {
			l, err := os.Readlink(src.fs.abs(e.rel))
			if err != nil {
				return err
			}
			h.Linkname = l
		}
		return cw.write(h, nil)
	case mode.IsRegular() && src.fromTree:
		h.Typeflag, h.Size = tar.TypeReg, e.info.Size()
		cw.deferred = append(cw.deferred, deferredFile{hdr: h, src: e.rel})
		return nil
	case mode.IsRegular():
		// Names of one file stay one file, as both of Docker's builders
		// copy them: the first is written, the others link to it.
		if st, ok := e.info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if first, ok := cw.inodes[st.Ino]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, first
				return cw.write(h, nil)
			}
			if cw.inodes == nil {
				cw.inodes = map[uint64]string{}
			}
			cw.inodes[st.Ino] = target
		}
		f, err := os.Open(src.fs.abs(e.rel))
		if err != nil {
			return fmt.Errorf("copying %s: %w", e.rel, err)
		}
		defer f.Close()
		h.Typeflag, h.Size = tar.TypeReg, e.info.Size()
		return cw.write(h, io.LimitReader(f, h.Size))
	}
	return nil // sockets, devices: not copied from a context
}

// maybeUntar extracts a local (optionally compressed) tar archive into
// destDir, as ADD does; ok is false when the file is not a tar.
func (cw *copyWriter) maybeUntar(ctx context.Context, file, destRel string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	// A file that is not a tar (or whose compression is damaged) is
	// copied as it is, as Docker does; one that asks for more decoder
	// memory than berth allows is refused rather than copied unread.
	r, _, err := image.Decompress(f)
	if err != nil {
		if errors.Is(err, image.ErrTooMuchMemory) {
			return true, fmt.Errorf("extracting %s: %w", path.Base(file), err)
		}
		return false, nil
	}
	defer r.Close()
	inner := bufio.NewReaderSize(r, 1<<16)
	hdr, err := inner.Peek(512)
	if errors.Is(err, image.ErrTooMuchMemory) {
		return true, fmt.Errorf("extracting %s: %w", path.Base(file), err)
	}
	if err != nil || !image.LooksLikeTar(hdr) {
		return false, nil
	}
	tr := tar.NewReader(inner)
	if err := cw.mkdirs(destRel); err != nil {
		return true, err
	}
	added := map[string]bool{} // non-directory entries written so far (true), directories (false)
	for {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return true, fmt.Errorf("extracting %s: %w", path.Base(file), err)
		}
		name, err := fsutil.CleanTarName(h.Name)
		if err != nil {
			return true, err
		}
		if name == "" {
			continue
		}
		target, err := cw.untarTarget(destRel, name)
		if err != nil {
			return true, fmt.Errorf("extracting %s: %w", path.Base(file), err)
		}
		if err := cw.mkdirs(parentDir(target)); err != nil {
			return true, err
		}
		hh := *h
		hh.Name = target
		if hh.Typeflag == tar.TypeLink {
			ln, err := fsutil.CleanTarName(h.Linkname)
			if err == nil {
				hh.Linkname, err = cw.untarTarget(destRel, ln)
			}
			if err != nil {
				return true, fmt.Errorf("extracting %s: hard link %s: %w", path.Base(file), h.Name, err)
			}
			// A layer's hard link names an earlier file of the same layer.
			if !added[hh.Linkname] {
				return true, fmt.Errorf("extracting %s: hard link %s points to %s, which the archive does not hold before it", path.Base(file), h.Name, h.Linkname)
			}
		}
		if cw.chown {
			hh.Uid, hh.Gid = cw.uid, cw.gid
		}
		if err := cw.write(&hh, tr); err != nil {
			return true, err
		}
		if hh.Typeflag != tar.TypeLink {
			added[target] = hh.Typeflag != tar.TypeDir
			th := hh
			cw.tree.m[target] = &th // later entries resolve through it
		}
	}
}

// untarTarget is where an ADD archive's entry name (cleaned) lands under
// destRel: its parent directories are resolved inside the image, links
// followed as an unpack into the stage's root would follow them (so a
// link to "/etc" followed by "link/passwd" writes /etc/passwd, as with
// Docker), never leaving an entry under a symlink in the layer.
func (cw *copyWriter) untarTarget(destRel, name string) (string, error) {
	target := strings.TrimPrefix(path.Join(destRel, name), "/")
	dir := parentDir(target)
	if dir == "" {
		return target, nil
	}
	real := cw.tree.resolveDir(dir)
	if h, ok := cw.tree.m[real]; ok && h.Typeflag != tar.TypeDir {
		return "", fmt.Errorf("%s is under /%s, which is not a directory", name, real)
	}
	return strings.TrimPrefix(path.Join(real, path.Base(target)), "/"), nil
}

// trimPivot applies COPY --parents' "/./" pivot: in "app/./src/*.go" the
// path is kept from "src" on. Without a pivot the whole path is kept.
func trimPivot(src, rel string) string {
	i := strings.Index("/"+src, "/./")
	if i < 0 {
		return rel
	}
	prefix := strings.TrimPrefix(path.Clean("/"+src[:max(i-1, 0)]), "/")
	if prefix == "" {
		return rel
	}
	return strings.TrimPrefix(rel, prefix+"/")
}
