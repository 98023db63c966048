package fsutil

import (
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// CheckTarPath rejects a tar entry name that is absolute or climbs out of the
// archive root with "..". Names are judged as written, before any cleaning,
// because a cleaned name hides what the archive tried to do.
func CheckTarPath(name string) error {
	if name == "" {
		return fmt.Errorf("empty entry name")
	}
	if strings.HasPrefix(name, "/") {
		return fmt.Errorf("entry %s has an absolute path", untrusted.Quote(name))
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Errorf("entry %s escapes the root with a \"..\" component", untrusted.Quote(name))
		}
	}
	if strings.ContainsRune(name, 0) {
		return fmt.Errorf("entry %s contains a NUL byte", untrusted.Quote(name))
	}
	return nil
}

// CleanTarName is berth's one rule for tar entry names: it returns name
// relative to the archive root in the form layers and archives are compared
// in — leading "/" and "./" removed (GNU tar writes them; Docker reads such
// layers as relative), cleaned ("a//b/" becomes "a/b"), "" for the root
// itself — and refuses what CheckTarPath refuses once a leading "/" is
// gone: an empty name, a ".." component, a NUL byte. Readers that must
// refuse absolute names too (image archives) call CheckTarPath first.
func CleanTarName(name string) (string, error) {
	rel := strings.TrimLeft(name, "/")
	if rel == "" && name != "" {
		return "", nil // "/" is the root
	}
	if err := CheckTarPath(rel); err != nil {
		return "", err
	}
	c := path.Clean(rel)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// SecureJoin joins name under root and refuses results outside root. It does
// not follow symlinks; callers that create files must also refuse to write
// through links (see CheckLinkTarget).
func SecureJoin(root, name string) (string, error) {
	clean := path.Clean("/" + filepath.ToSlash(name))
	if strings.Contains(name, "..") {
		for _, part := range strings.Split(filepath.ToSlash(name), "/") {
			if part == ".." {
				return "", fmt.Errorf("path %s escapes %s", untrusted.Quote(name), root)
			}
		}
	}
	return filepath.Join(root, filepath.FromSlash(clean)), nil
}

// CheckLinkTarget rejects a link entry (symlink or hard link) at entry whose
// target would resolve outside the archive root. For symlinks a relative
// target is resolved against the entry's directory and an absolute one is
// refused. Layer extraction, where absolute symlinks are normal, must instead
// never follow links while writing.
func CheckLinkTarget(entry, target string, hard bool) error {
	if target == "" {
		return fmt.Errorf("link %s has an empty target", untrusted.Quote(entry))
	}
	if hard {
		if err := CheckTarPath(strings.TrimPrefix(target, "./")); err != nil {
			return fmt.Errorf("hard link %s: %w", untrusted.Quote(entry), err)
		}
		return nil
	}
	if strings.HasPrefix(target, "/") {
		return fmt.Errorf("symlink %s points outside the archive: %s is absolute", untrusted.Quote(entry), untrusted.Quote(target))
	}
	depth := 0
	dir := path.Dir(path.Clean(entry))
	if dir != "." {
		depth = len(strings.Split(dir, "/"))
	}
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return fmt.Errorf("symlink %s points outside the archive: %s", untrusted.Quote(entry), untrusted.Quote(target))
			}
		default:
			depth++
		}
	}
	return nil
}

// ResolveIn joins name under root and follows symlinks, refusing a result
// outside root (through "..", an absolute link or a link that climbs out).
// The path must exist. Use it to read files named by someone else's tree,
// such as the Dockerfile of a cloned repository.
func ResolveIn(root, name string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	p, err := filepath.EvalSymlinks(filepath.Join(realRoot, filepath.FromSlash(name)))
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(realRoot, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s leads out of %s", name, root)
	}
	return p, nil
}

// ResolveInRoot returns the host path of name inside root with every
// symlink on the way followed as if root were "/": an absolute link, or
// ".." above the top, stays at root, exactly as the name would resolve
// inside a container whose root filesystem is root (openat2's
// RESOLVE_IN_ROOT, which the kernel enforces). The path must exist. Use it
// where a path from someone else's tree (a build context, a stage) names
// what to bind or read: unlike ResolveIn it does not refuse a link that
// points out, it keeps it in, as BuildKit does for bind mount sources.
func ResolveInRoot(root, name string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	rootFd, err := unix.Open(realRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rootFd)
	rel := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(name)), "/")
	if rel == "" {
		return realRoot, nil
	}
	fd, err := unix.Openat2(rootFd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return "", &os.PathError{Op: "resolve", Path: name, Err: err}
	}
	defer unix.Close(fd)
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	if p != realRoot && !strings.HasPrefix(p, strings.TrimSuffix(realRoot, "/")+"/") {
		return "", fmt.Errorf("%s leads out of %s", name, root)
	}
	return p, nil
}
