package build

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/build/remotecontext"
	"github.com/berth-dev/berth/internal/dockerfile"
	"github.com/berth-dev/berth/internal/fsutil"
)

// The build context and its relatives: a directory, stdin, a Git or http(s)
// URL, named contexts (--build-context) and ssh-agent sockets (--ssh).

// readInput returns the Dockerfile bytes, the context directory ("" for
// none) and the Dockerfile's path (for <Dockerfile>.dockerignore). The
// context is a directory, "-" (a tar or a Dockerfile on stdin), a Git URL
// (cloned) or an http(s) URL (a tar or a Dockerfile), as for docker build;
// file is -f ("" for the context's Dockerfile, "-" for stdin).
func readInput(ctx context.Context, file, ctxArg string, stdin io.Reader, tmp string) ([]byte, string, string, error) {
	contextDir := ctxArg
	remoteCtx := true // -f names a file inside the context, not on the host
	switch {
	case ctxArg == "-":
		if file == "-" {
			return nil, "", "", badRequest{errors.New("invalid argument: can't use stdin for both build context and dockerfile")}
		}
		df, dir, err := contextFromStream(ctx, stdin, filepath.Join(tmp, "context"))
		if err != nil {
			return nil, "", "", fmt.Errorf("reading build context from stdin: %w", err)
		}
		if df != nil {
			return df, "", "Dockerfile", nil
		}
		contextDir = dir
	case remotecontext.IsGitURL(ctxArg):
		dir, err := cloneContext(ctx, ctxArg, filepath.Join(tmp, "context"))
		if err != nil {
			return nil, "", "", withHint(fmt.Errorf("unable to prepare context: %w", err), "check the repository URL and the #ref:subdir after it")
		}
		contextDir = dir
	case remotecontext.IsURL(ctxArg):
		path, err := remotecontext.Download(ctx, http.DefaultClient, ctxArg, tmp)
		if err != nil {
			return nil, "", "", fmt.Errorf("unable to prepare context: %w", err)
		}
		r, err := os.Open(path)
		if err != nil {
			return nil, "", "", err
		}
		df, dir, err := contextFromStream(ctx, r, filepath.Join(tmp, "context"))
		r.Close()
		if err != nil {
			return nil, "", "", fmt.Errorf("unable to prepare context from %s: %w", ctxArg, err)
		}
		if df != nil {
			return df, "", "Dockerfile", nil
		}
		contextDir = dir
	default:
		remoteCtx = false
		fi, err := os.Stat(ctxArg)
		if err != nil || !fi.IsDir() {
			return nil, "", "", fmt.Errorf("unable to prepare context: path %s not found", untrusted.Quote(ctxArg))
		}
		if abs, err := filepath.Abs(ctxArg); err == nil {
			// Absolute: RUN --mount=type=bind sources are host paths.
			contextDir = abs
		}
	}
	if file == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, dockerfile.MaxSize+1))
		return data, contextDir, "Dockerfile", err
	}
	name := file
	if remoteCtx && name == "" {
		name = "Dockerfile"
	}
	if name == "" {
		name = filepath.Join(contextDir, "Dockerfile")
	} else if remoteCtx {
		// docker build -f names a path inside a remote context, which
		// may not lead back out to the host's files.
		p, err := fsutil.ResolveIn(contextDir, name)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, "", "", fmt.Errorf("failed to read dockerfile: %w", err)
		}
		if err == nil {
			name = p
		} else {
			name = filepath.Join(contextDir, filepath.Clean("/"+name))
		}
	}
	data, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "", "", fmt.Errorf("failed to read dockerfile: open %s: no such file or directory", name)
		}
		return nil, "", "", fmt.Errorf("failed to read dockerfile: %w", err)
	}
	// <Dockerfile>.dockerignore is looked up beside the Dockerfile.
	if abs, err := filepath.Abs(name); err == nil {
		name = abs
	}
	return data, contextDir, name, nil
}

// remoteContext reports whether the context argument is fetched (stdin,
// a Git or http(s) URL) rather than a directory of the user's.
func remoteContext(ctxArg string) bool {
	return ctxArg == "-" || remotecontext.IsGitURL(ctxArg) || remotecontext.IsURL(ctxArg)
}

// sshSockets reads --ssh ID[=SOCKET]: an ssh-agent socket per id, from
// $SSH_AUTH_SOCK when none is named. Key files are not taken: BuildKit
// would start an agent for them; with berth, ssh-add them to your agent.
func sshSockets(specs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, spec := range specs {
		id, sock, _ := strings.Cut(spec, "=")
		if id == "" {
			return nil, badRequest{fmt.Errorf("invalid --ssh %s: want ID[=SOCKET]", untrusted.Quote(spec))}
		}
		if sock == "" {
			sock = os.Getenv("SSH_AUTH_SOCK")
			if sock == "" {
				return nil, withHint(fmt.Errorf("--ssh %s: SSH_AUTH_SOCK is not set", id), "start ssh-agent and ssh-add your key, or pass --ssh "+id+"=SOCKET")
			}
		}
		fi, err := os.Stat(sock)
		if err != nil {
			return nil, fmt.Errorf("--ssh %s: %w", id, err)
		}
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, withHint(fmt.Errorf("--ssh %s: %s is not an ssh-agent socket", id, sock), "load the key into ssh-agent with ssh-add and pass --ssh "+id)
		}
		out[id] = sock
	}
	return out, nil
}

// extraHosts reads --add-host HOST:IP (or HOST=IP) into /etc/hosts lines.
// "host-gateway" is this machine: RUN shares its network, so 127.0.0.1.
func extraHosts(specs []string) ([]string, error) {
	var out []string
	for _, spec := range specs {
		host, ip, ok := strings.Cut(spec, "=")
		if !ok {
			host, ip, ok = strings.Cut(spec, ":")
		}
		if ip == "host-gateway" {
			ip = "127.0.0.1"
		}
		ip = strings.Trim(ip, "[]")
		if !ok || host == "" || strings.ContainsAny(host, " \t\n#") || net.ParseIP(ip) == nil {
			return nil, badRequest{fmt.Errorf("invalid --add-host %s: want HOST:IP", untrusted.Quote(spec))}
		}
		out = append(out, ip+"\t"+host)
	}
	return out, nil
}

// cloneContext clones a Git build context into dir and returns the
// context directory. The clone's .git goes, as with BuildKit's Git
// contexts: it is not the project's content, and its config may hold the
// remote's credentials, which COPY . would put in the image.
func cloneContext(ctx context.Context, url, dir string) (string, error) {
	d, err := remotecontext.Clone(ctx, url, dir)
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(filepath.Join(dir, ".git")); err != nil {
		return "", err
	}
	return d, nil
}

// namedContexts reads --build-context name=value: docker-image://REF, a
// Git URL (cloned), an http(s) URL of a tar (extracted) or a local
// directory, as docker buildx takes them.
func namedContexts(ctx context.Context, specs []string, tmp string) (map[string]NamedContext, error) {
	out := map[string]NamedContext{}
	for i, spec := range specs {
		name, value, ok := strings.Cut(spec, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || value == "" {
			return nil, badRequest{fmt.Errorf("invalid --build-context %s: want name=value", untrusted.Quote(spec))}
		}
		dir := filepath.Join(tmp, "named-"+strconv.Itoa(i))
		switch {
		case strings.HasPrefix(value, "docker-image://"):
			out[name] = NamedContext{Image: strings.TrimPrefix(value, "docker-image://")}
		case strings.HasPrefix(value, "oci-layout://"), strings.HasPrefix(value, "target:"):
			return nil, badRequest{fmt.Errorf("--build-context %s: %s sources are not supported; use docker-image://, a directory, a Git URL or an http(s) tar", name, untrusted.Quote(strings.SplitN(value, ":", 2)[0]))}
		case remotecontext.IsGitURL(value):
			d, err := cloneContext(ctx, value, dir)
			if err != nil {
				return nil, fmt.Errorf("--build-context %s: %w", name, err)
			}
			out[name] = NamedContext{Dir: d}
		case remotecontext.IsURL(value):
			p, err := remotecontext.Download(ctx, http.DefaultClient, value, tmp)
			if err != nil {
				return nil, fmt.Errorf("--build-context %s: %w", name, err)
			}
			r, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			df, d, err := contextFromStream(ctx, r, dir)
			r.Close()
			if err != nil {
				return nil, fmt.Errorf("--build-context %s: %w", name, err)
			}
			if df != nil {
				return nil, fmt.Errorf("--build-context %s: %s is not a tar archive", name, value)
			}
			out[name] = NamedContext{Dir: d}
		default:
			abs, err := filepath.Abs(value)
			if err != nil {
				return nil, err
			}
			if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("--build-context %s: %s is not a directory", name, value)
			}
			out[name] = NamedContext{Dir: abs}
		}
	}
	return out, nil
}

// contextFromStream reads a context tar into dir, or a Dockerfile (then
// the context is empty), as archive.ReadContext tells them apart.
func contextFromStream(ctx context.Context, r io.Reader, dir string) (dockerfileData []byte, contextDir string, err error) {
	df, isTar, err := archive.ReadContext(ctx, r, dir, dockerfile.MaxSize)
	if err != nil || !isTar {
		return df, "", err
	}
	return nil, dir, nil
}
