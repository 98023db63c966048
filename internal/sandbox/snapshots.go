package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/sandbox/snapshot"
	"golang.org/x/sys/unix"
)

// NewSnapshots opens the layer snapshot store at root (e.g. ROOT/snapshots)
// the way this process needs it. Rootless with subordinate ids, layers are
// extracted and removed as root of a user namespace with the same mapping
// RUN steps get, so the image's file ownership survives (uid 1000 in the
// image is uid 1000 in the step); otherwise in this process (as root, or
// rootless with one id, where all files belong to the caller).
func NewSnapshots(root string) (*snapshot.Store, error) {
	if os.Geteuid() == 0 {
		return snapshot.New(root)
	}
	m := lookupIDMapper()
	if m == nil {
		return snapshot.New(root)
	}
	return snapshot.NewWith(root, snapshot.Options{
		Extract: func(ctx context.Context, dir string, r io.Reader) error {
			return m.extract(ctx, extractSpec{Dir: dir}, r)
		},
		RemoveAll: func(ctx context.Context, path string) error {
			if fsutil.RemoveAll(path) == nil {
				return nil
			}
			return m.extract(ctx, extractSpec{Dir: path, Remove: true}, nil)
		},
	})
}

// extractSpec is what an extract child does: unpack its fd 4 into Dir, or
// remove Dir.
type extractSpec struct {
	Dir    string
	Remove bool
}

// extract runs snapshot.Extract (or a removal) in a child that is root of a
// user namespace with m's mapping.
func (m *idMapper) extract(ctx context.Context, spec extractSpec, r io.Reader) error {
	pipes, closePipes, err := openPipes(2)
	if err != nil {
		return err
	}
	defer closePipes()
	specPipe, dataPipe := pipes[0], pipes[1]
	var stderr strings.Builder
	cmd, err := startChild(modeExtract, spec.Dir, nil, &stderr, []*os.File{specPipe.r, dataPipe.r}, specPipe.w, true, m)
	if err != nil {
		return fmt.Errorf("starting layer extraction: %w", err)
	}
	specPipe.r.Close()
	dataPipe.r.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		case <-stop:
		}
	}()
	if err := json.NewEncoder(specPipe.w).Encode(&spec); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	specPipe.w.Close()
	var cerr error
	if r != nil {
		_, cerr = io.Copy(dataPipe.w, r)
	}
	dataPipe.w.Close()
	werr := cmd.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if werr != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return errors.New(msg)
		}
		return werr
	}
	return cerr
}

// extractMain is the extract child: root of the rootless user namespace.
func extractMain() int {
	var spec extractSpec
	if err := json.NewDecoder(os.NewFile(fdSpec, "spec")).Decode(&spec); err != nil {
		fmt.Fprintf(os.Stderr, "reading extract spec: %v\n", err)
		return 1
	}
	if spec.Remove {
		if err := fsutil.RemoveAll(spec.Dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	data := os.NewFile(fdLayer, "layer")
	err := snapshot.Extract(context.Background(), spec.Dir, data)
	// Read to the end so the parent's copy (and digest) covers every byte.
	_, _ = io.Copy(io.Discard, data)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
