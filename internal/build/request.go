package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/dockerfile"
	"github.com/berth-dev/berth/internal/fsutil"
)

// The rules that turn a build request — `berth build`'s flags, the Engine
// API's POST /build parameters — into Options, as Docker applies them.
// lookupEnv is where NAME-only --build-arg values, env secrets and
// SOURCE_DATE_EPOCH come from: the process environment for the CLI, nothing
// for the API (a client never reads the server's environment).

// ErrBadRequest is wrapped by the errors of a request that cannot be built
// as asked (a malformed --secret, SOURCE_DATE_EPOCH): bad input, not a
// failed build.
var ErrBadRequest = errors.New("bad build request")

type badRequest struct{ error }

func (e badRequest) Unwrap() []error { return []error{e.error, ErrBadRequest} }

// hinted is an error with advice for the user, which front ends print
// beside it (berth's "hint:" line).
type hinted struct {
	error
	hint string
}

func (e hinted) Unwrap() error { return e.error }

// Hint is what the user can do about the error.
func (e hinted) Hint() string { return e.hint }

func withHint(err error, hint string) error { return hinted{err, hint} }

// cacheFlags reads --cache-from and --cache-to as buildx spells them;
// berth's cache exchange is the inline one (the cache rides in the image).
func cacheFlags(from, to []string) (refs []string, inline bool, err error) {
	for _, f := range from {
		kv := map[string]string{}
		if strings.Contains(f, "=") {
			for _, part := range strings.Split(f, ",") {
				k, v, _ := strings.Cut(part, "=")
				kv[k] = v
			}
		} else {
			kv = map[string]string{"type": "registry", "ref": f}
		}
		if kv["type"] != "registry" || kv["ref"] == "" {
			return nil, false, badRequest{fmt.Errorf("--cache-from %q: berth reads the inline cache of an image: IMAGE or type=registry,ref=IMAGE", f)}
		}
		refs = append(refs, kv["ref"])
	}
	for _, t := range to {
		if t != "type=inline" {
			return nil, false, badRequest{fmt.Errorf("--cache-to %q: berth exports the cache inline only (type=inline)", t)}
		}
		inline = true
	}
	return refs, inline, nil
}

// BuildArgs reads --build-arg NAME=VALUE; a bare NAME takes lookupEnv's
// value and is left out when that is unset, as in Docker.
func BuildArgs(args []string, lookupEnv func(string) (string, bool)) map[string]string {
	out := map[string]string{}
	for _, ba := range args {
		k, v, ok := strings.Cut(ba, "=")
		if !ok {
			ev, set := lookupEnv(k)
			if !set {
				continue
			}
			v = ev
		}
		out[k] = v
	}
	return out
}

// Labels reads --label KEY=VALUE (a bare KEY is an empty value).
func Labels(labels []string) map[string]string {
	out := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out
}

// Secrets reads --secret id=ID[,src=PATH|,env=VAR] (BuildKit's spelling;
// neither src nor env is env=ID) and returns, by id, the file each secret
// is read from (absolute; a relative src is the working directory's). A secret from the environment is written to a 0600 file in
// dir (the build's Workspace), gone with it.
func Secrets(specs []string, lookupEnv func(string) (string, bool), dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		var id, src string
		for _, kv := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "id":
				id = v
			case "src", "source":
				src = v
			case "env":
				if src == "" {
					src = "env:" + v
				}
			case "type":
			default:
				return nil, badRequest{fmt.Errorf("invalid secret %q: unexpected key %q", s, k)}
			}
		}
		if id == "" {
			return nil, badRequest{fmt.Errorf("invalid secret %q: id is required", s)}
		}
		if src == "" {
			src = "env:" + id
		}
		if !strings.HasPrefix(src, "env:") {
			// As buildx: a relative src is the working directory's, and
			// a file that is not there fails before the build starts,
			// not at the RUN that mounts it (which a cache hit skips).
			if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("failed to stat %s: %w", src, err)
			}
			abs, err := filepath.Abs(src)
			if err != nil {
				return nil, err
			}
			src = abs
		}
		out[id] = src
	}
	for id, src := range out {
		if env, ok := strings.CutPrefix(src, "env:"); ok {
			p := filepath.Join(dir, "secret-"+strconv.Itoa(len(id))+"-"+filepath.Base(id))
			v, _ := lookupEnv(env)
			if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
				return nil, err
			}
			out[id] = p
		}
	}
	return out, nil
}

// SourceDateEpoch is the time SOURCE_DATE_EPOCH (from lookupEnv, else the
// build arg of that name) sets for a reproducible build; nil when unset.
func SourceDateEpoch(lookupEnv func(string) (string, bool), buildArgs map[string]string) (*time.Time, error) {
	s, _ := lookupEnv("SOURCE_DATE_EPOCH")
	if s == "" {
		s = buildArgs["SOURCE_DATE_EPOCH"]
	}
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, badRequest{fmt.Errorf("invalid SOURCE_DATE_EPOCH %q: %w", s, err)}
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// ReadIgnore reads the .dockerignore that applies to a build: the first of
// dockerfile.IgnoreFileNames(dockerfilePath) found (names relative to
// contextDir). In a fetched context (stdin, Git, URL) a link may not lead
// out of it to the host's files, whose lines would be echoed as bad
// patterns. nil means nothing is ignored.
func ReadIgnore(contextDir, dockerfilePath string, fetched bool) (*dockerfile.Ignore, error) {
	if contextDir == "" {
		return nil, nil
	}
	for _, n := range dockerfile.IgnoreFileNames(dockerfilePath) {
		p := n
		if !filepath.IsAbs(p) {
			p = filepath.Join(contextDir, n)
		}
		if fetched {
			if rel, err := filepath.Rel(contextDir, p); err == nil {
				if p, err = fsutil.ResolveIn(contextDir, rel); err != nil {
					continue
				}
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		return dockerfile.ParseIgnore(data)
	}
	return nil, nil
}
