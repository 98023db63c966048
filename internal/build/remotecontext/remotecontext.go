package remotecontext

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
)

// IsURL reports whether s is an http or https URL.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// gitSuffix is an http(s) URL path naming a repository: "….git", optionally
// followed by a "#ref:subdir" fragment.
var gitSuffix = regexp.MustCompile(`\.git(?:#.+)?$`)

// IsGitURL reports whether docker build would read s as a Git repository:
// an http(s) URL ending in .git (before any fragment), or one starting with
// git://, git@ or github.com/.
func IsGitURL(s string) bool {
	if IsURL(s) && gitSuffix.MatchString(s) {
		return true
	}
	for _, p := range []string{"git://", "git@", "github.com/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// GitRef is a Git build context split into its parts.
type GitRef struct {
	Remote string // what git fetches from
	Ref    string // branch, tag or commit; "" for the remote's default branch
	Subdir string // the context's directory inside the repository; "" for its root
}

// ParseGitURL splits Docker's REMOTE#REF:SUBDIR syntax. github.com/… names
// are fetched over https, as Docker does.
func ParseGitURL(s string) (GitRef, error) {
	if !IsGitURL(s) {
		return GitRef{}, fmt.Errorf("%q is not a Git URL", s)
	}
	remote, frag, _ := strings.Cut(s, "#")
	if strings.HasPrefix(remote, "github.com/") {
		remote = "https://" + remote
	}
	ref, sub, _ := strings.Cut(frag, ":")
	if strings.HasPrefix(ref, "-") {
		// Would be read by git as an option.
		return GitRef{}, fmt.Errorf("invalid Git reference %q", ref)
	}
	return GitRef{Remote: remote, Ref: ref, Subdir: sub}, nil
}

// Clone fetches the ref of a Git context into dir (which must not exist or
// be empty), with its submodules, and returns the context directory: dir,
// or its subdirectory when one was named. The subdirectory may not lead out
// of the checkout, through ".." or a symlink.
func Clone(ctx context.Context, url, dir string) (string, error) {
	g, err := ParseGitURL(url)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := git(ctx, dir, "init", "-q"); err != nil {
		return "", err
	}
	if err := git(ctx, dir, "remote", "add", "origin", g.Remote); err != nil {
		return "", err
	}
	ref := g.Ref
	if ref == "" {
		ref = "HEAD"
	}
	// A shallow fetch of the one ref is all a build needs. Servers that do
	// not hand out commits by hash (uploadpack.allowReachableSHA1InWant
	// off) make a commit ref fail that way; then fetch everything and let
	// checkout resolve it.
	target := "FETCH_HEAD"
	if err := git(ctx, dir, "fetch", "-q", "--depth", "1", "origin", ref); err != nil {
		if git(ctx, dir, "fetch", "-q", "--tags", "origin") != nil || git(ctx, dir, "rev-parse", "-q", "--verify", ref+"^{commit}") != nil {
			return "", fmt.Errorf("fetching %s from %s: %w", ref, g.Remote, err)
		}
		target = ref
	}
	if err := git(ctx, dir, "-c", "advice.detachedHead=false", "checkout", "-q", target, "--"); err != nil {
		return "", fmt.Errorf("checking out %s: %w", ref, err)
	}
	if err := git(ctx, dir, "submodule", "update", "-q", "--init", "--recursive", "--depth", "1"); err != nil {
		return "", fmt.Errorf("fetching submodules: %w", err)
	}
	if g.Subdir == "" {
		return dir, nil
	}
	return subdir(dir, g.Subdir)
}

// fullHash is a complete SHA-1 or SHA-256 commit name.
var fullHash = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// ResolveCommit names the commit a Git URL's ref points at now, asking the
// server (git ls-remote) without fetching anything, so a build cache can
// be keyed by it before deciding whether to clone. A full commit hash is
// its own answer; an abbreviated one cannot be resolved remotely and is
// returned as "" with no error, meaning "clone to find out".
func ResolveCommit(ctx context.Context, url string) (string, error) {
	g, err := ParseGitURL(url)
	if err != nil {
		return "", err
	}
	if fullHash.MatchString(g.Ref) {
		return g.Ref, nil
	}
	ref := g.Ref
	if ref == "" {
		ref = "HEAD"
	}
	out, err := gitOutput(ctx, "", "ls-remote", g.Remote, ref, "refs/tags/"+ref+"^{}")
	if err != nil {
		return "", fmt.Errorf("resolving %s of %s: %w", ref, g.Remote, err)
	}
	// Prefer a peeled tag (the commit, not the tag object), then a branch
	// or tag by that name, then any ref ending in it.
	found := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		hash, name, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if ok {
			found[name] = hash
		}
	}
	for _, name := range []string{"refs/tags/" + ref + "^{}", ref, "refs/heads/" + ref, "refs/tags/" + ref} {
		if h, ok := found[name]; ok {
			return h, nil
		}
	}
	for name, h := range found {
		if strings.HasSuffix(name, "/"+ref) {
			return h, nil
		}
	}
	return "", nil
}

// Head names the commit checked out in the clone at dir.
func Head(ctx context.Context, dir string) (string, error) {
	out, err := gitOutput(ctx, dir, "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

// subdir resolves sub inside root, following symlinks only as far as they
// stay inside root.
func subdir(root, sub string) (string, error) {
	p, err := fsutil.ResolveIn(root, sub)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("subdirectory %q is not in the repository", sub)
	}
	if err != nil {
		return "", fmt.Errorf("subdirectory %q: %w", sub, err)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("subdirectory %q of the repository is not a directory", sub)
	}
	return p, nil
}

// git runs one git command in dir. Prompts are off (a build must not hang
// waiting for a password) and the transports that run local programs or
// read local paths are refused, for the repository and its submodules
// alike: a context URL or a .gitmodules file comes from someone else.
func git(ctx context.Context, dir string, args ...string) error {
	_, err := gitOutput(ctx, dir, args...)
	return err
}

// gitOutput is git returning the command's standard output.
func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	full := append([]string{"-c", "protocol.ext.allow=never", "-c", "protocol.file.allow=never"}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", errors.New("git is not installed; Git sources need it")
		}
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:]) // git's last line says what failed
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", subcommand(args), msg)
	}
	return stdout.String(), nil
}

// subcommand is the git command among args, past any "-c key=value".
func subcommand(args []string) string {
	for i := 0; i < len(args); i++ {
		if args[i] == "-c" {
			i++
			continue
		}
		return args[i]
	}
	return ""
}

// Download GETs url into a new file under dir and returns its path. A
// status other than 200 is an error naming the status.
func Download(ctx context.Context, client *http.Client, url, dir string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("downloading the build context: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("downloading the build context %s: %s", url, untrusted.Text(resp.Status))
	}
	f, err := os.CreateTemp(dir, "context-*")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return "", fmt.Errorf("downloading the build context %s: %w", url, err)
	}
	return f.Name(), nil
}
