package archive

import (
	"bufio"
	"context"
	"io"

	"github.com/berth-dev/berth/internal/image"
)

// ReadContext reads what docker build accepts on stdin or from a URL: a tar
// archive (plain or compressed, within image.Decompress's bounds), extracted
// into dir by Unpack, or else a Dockerfile of at most maxDockerfile bytes,
// returned (the build then has no context). isTar says which it was.
func ReadContext(ctx context.Context, r io.Reader, dir string, maxDockerfile int64) (dockerfile []byte, isTar bool, err error) {
	plain, _, err := image.Decompress(r)
	if err != nil {
		return nil, false, err
	}
	defer plain.Close()
	br := bufio.NewReaderSize(plain, 1<<16)
	head, _ := br.Peek(512)
	if image.LooksLikeTar(head) {
		if err := Unpack(ctx, br, dir, UnpackOptions{}); err != nil {
			return nil, true, err
		}
		return nil, true, nil
	}
	data, err := io.ReadAll(io.LimitReader(br, maxDockerfile+1))
	if err != nil {
		return nil, false, err
	}
	return data, false, nil
}
