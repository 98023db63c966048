package build

import (
	"context"
	"io"
)

// Input is a build's Dockerfile and context as docker build reads them,
// for the callers that look at them without building (berth lint, build
// --check).
type Input struct {
	Dockerfile     []byte
	ContextDir     string // "" when there is none (a Dockerfile on stdin or at a URL)
	DockerfilePath string // for <Dockerfile>.dockerignore
	Fetched        bool   // the context was fetched (stdin, Git, a URL), not a directory of the user's
}

// ReadInput reads the Dockerfile and context of a build request as Run
// does: file is -f ("" for the context's Dockerfile, "-" for stdin),
// ctxArg a directory, "-", a Git or an http(s) URL, fetched into tmp.
func ReadInput(ctx context.Context, file, ctxArg string, stdin io.Reader, tmp string) (Input, error) {
	df, dir, path, err := readInput(ctx, file, ctxArg, stdin, tmp)
	if err != nil {
		return Input{}, err
	}
	return Input{Dockerfile: df, ContextDir: dir, DockerfilePath: path, Fetched: remoteContext(ctxArg)}, nil
}
