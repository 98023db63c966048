package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/berth-dev/berth/internal/sandbox"
	"github.com/berth-dev/berth/internal/sandbox/snapshot"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

// newSandboxExecCmd is a hidden command that runs one RUN step outside a
// build: for end-to-end tests of the re-exec hook in cmd/berth and for
// bench/sandbox.sh. It is not part of Docker's CLI.
func (a *app) newSandboxExecCmd() *cobra.Command {
	var (
		bases, lowerDirs []string
		snapshots, out   string
		user, dir, netw  string
		env, security    []string
	)
	cmd := &cobra.Command{
		Use:    "sandbox-exec [OPTIONS] -- COMMAND [ARG...]",
		Short:  "Run a command in the RUN sandbox over layer tars (testing)",
		Hidden: true,
		Args:   minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			seccomp, err := securityOpts(security)
			if err != nil {
				return err
			}
			temp := snapshots == ""
			if temp {
				d, err := os.MkdirTemp("", "berth-snapshots-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				snapshots = d
			}
			st, err := sandbox.NewSnapshots(snapshots)
			if err != nil {
				return err
			}
			lowers := append([]string(nil), lowerDirs...)
			for _, b := range bases {
				d, diffID, err := unpackTar(ctx, st, b)
				if err != nil {
					return err
				}
				if temp {
					// Through the store: rootless, its files may belong to
					// subordinate ids that only it can delete.
					defer st.Remove(context.WithoutCancel(ctx), diffID)
				}
				lowers = append(lowers, d)
			}
			var layer io.Writer
			var f *os.File
			if out != "" {
				f, err = os.Create(out)
				if err != nil {
					return fmt.Errorf("creating layer file: %w", err)
				}
				defer f.Close()
				layer = f
			}
			err = sandbox.Run(ctx, sandbox.Spec{
				Lowers: lowers, Args: args, Env: env, Dir: dir, User: user, Network: netw,
				Stdout: a.stdout, Stderr: a.stderr, Seccomp: seccomp,
			}, layer)
			var ee *sandbox.ExitError
			if errors.As(err, &ee) {
				return exitError{code: ee.Code}
			}
			if err != nil {
				return err
			}
			if f != nil {
				return f.Close()
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&bases, "base", nil, "Uncompressed layer tar of the root filesystem, bottom first (repeatable)")
	fl.StringArrayVar(&lowerDirs, "lower", nil, "Already unpacked layer directory, bottom first, below the --base layers (repeatable)")
	fl.StringVar(&snapshots, "snapshots", "", "Directory of unpacked layers to reuse (default: a temporary one)")
	fl.StringVar(&out, "layer", "", "Write the resulting layer tar to this file")
	fl.StringVarP(&user, "user", "u", "", "User to run as")
	fl.StringVarP(&dir, "workdir", "w", "", "Working directory")
	fl.StringVar(&netw, "network", "", `Network mode ("host" or "none")`)
	fl.StringArrayVarP(&env, "env", "e", nil, "Environment variable KEY=VALUE")
	fl.StringArrayVar(&security, "security-opt", nil, `"seccomp=unconfined" or "seccomp=PROFILE.json", as for build`)
	return cmd
}

// unpackTar unpacks an uncompressed layer tar file into the snapshot store.
func unpackTar(ctx context.Context, st *snapshot.Store, path string) (string, v1.Hash, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", v1.Hash{}, fmt.Errorf("opening base layer: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", v1.Hash{}, fmt.Errorf("reading base layer %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", v1.Hash{}, err
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	dir, err := st.Unpack(ctx, diffID, f)
	return dir, diffID, err
}
