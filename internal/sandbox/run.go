package sandbox

import (
	"context"
	"errors"
	"io"
)

func run(ctx context.Context, spec Spec, layer io.Writer) error {
	return errors.New("sandbox: not implemented yet")
}

func main() {}
