package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/engineapi"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/berth-dev/berth/internal/sandbox"
	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

// newSystemServiceCmd is `berth system service`: the Docker Engine API for
// images, as `podman system service` serves it, so Docker's own clients
// (the docker CLI, docker-py, compose) drive berth through DOCKER_HOST.
func (a *app) newSystemServiceCmd() *cobra.Command {
	var (
		seconds         int
		tlsCert, tlsKey string
	)
	cmd := &cobra.Command{
		Use:   "service [OPTIONS] [URI]",
		Short: "Serve the Docker Engine API for images (DOCKER_HOST for docker, docker-py, compose)",
		Long: "Serve the Docker Engine API (v1.24 to v1.50) for images: docker images, inspect, tag, rmi, prune,\n" +
			"save, load, pull, push, login, search, build and system df work through it.\n\n" +
			"URI is unix:///PATH (default " + engineapi.DefaultURI() + ")\n" +
			"or tcp://127.0.0.1:PORT; a non-loopback TCP address needs --tls-cert and --tls-key.",
		Example: "  berth system service &\n  export DOCKER_HOST=" + engineapi.DefaultURI() + "\n  docker images\n\n" +
			"  berth system service --time 0 tcp://127.0.0.1:2375",
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if seconds < 0 {
				return usageError{fmt.Errorf("invalid --time %d: use 0 (never stop) or a number of seconds", seconds)}
			}
			uri := engineapi.DefaultURI()
			if len(args) == 1 {
				uri = args[0]
			}
			log := a.logger()
			if f := cmd.Flag("log-level"); f != nil && !f.Changed && !a.debug {
				// A service's requests are its output: log them unless
				// told otherwise.
				log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			return a.runService(cmd.Context(), uri, time.Duration(seconds)*time.Second, engineapi.ListenOptions{TLSCert: tlsCert, TLSKey: tlsKey}, log)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&seconds, "time", "t", 0, "Stop after this many seconds without a request (0: never)")
	f.StringVar(&tlsCert, "tls-cert", "", "TLS certificate (PEM) for a TCP address")
	f.StringVar(&tlsKey, "tls-key", "", "TLS private key (PEM) for a TCP address")
	return cmd
}

func (a *app) runService(ctx context.Context, uri string, idle time.Duration, lo engineapi.ListenOptions, log *slog.Logger) error {
	root := a.rootDir
	if root == "" {
		root = store.DefaultRoot()
	}
	// Open once to fail early on an unusable root, as every command does.
	st, err := store.Open(ctx, root)
	if err != nil {
		return withHint(err, "use --root DIR or BERTH_ROOT to choose a writable store directory")
	}
	st.Close()
	if _, err := a.newRemoteClient(nil); err != nil {
		return err
	}
	ln, err := engineapi.Listen(uri, lo)
	if err != nil {
		return err
	}
	defer ln.Close()
	srv := engineapi.New(engineapi.Config{
		OpenStore: func(ctx context.Context) (*store.Store, error) { return store.Open(ctx, root) },
		Remote: func(auth map[string]remote.AuthEntry) (*remote.Client, error) {
			return remote.New(remote.Options{Logger: log, UserAgent: "berth/" + berthVersion(), Auth: auth})
		},
		Pull: func(ctx context.Context, st *store.Store, c *remote.Client, o remote.PullImageOptions, ev remote.Events) (*remote.PullImageResult, error) {
			o.PartialDir = partialDir(st)
			return c.PullImage(ctx, o, storeSink{st}, ev)
		},
		Save: func(ctx context.Context, st *store.Store, w io.Writer, names []string, p *v1.Platform) error {
			return saveImages(ctx, st, w, names, saveArchiveOptions{Format: archive.FormatDocker, Platform: p})
		},
		Load: func(ctx context.Context, st *store.Store, r io.Reader, p *v1.Platform, emit func(string)) error {
			return loadArchive(ctx, st, r, loadArchiveOptions{Source: "the request body", Platform: p, Log: log}, emit)
		},
		Import: func(ctx context.Context, st *store.Store, r io.Reader, o engineapi.ImportOptions) (store.Image, error) {
			return st.Import(ctx, r, store.ImportOptions{Names: o.Names, Changes: o.Changes, Message: o.Message, Source: o.Source, Platform: o.Platform})
		},
		Build: func(ctx context.Context, st *store.Store, o engineapi.BuildOptions, progress io.Writer) (*build.Result, error) {
			newRemote := func() (*remote.Client, error) {
				return remote.New(remote.Options{Logger: log, UserAgent: "berth/" + berthVersion(), Auth: o.Auth})
			}
			env, err := a.buildEnv(st, newRemote, sandbox.Seccomp{}, progress)
			if err != nil {
				return nil, err
			}
			return build.Run(ctx, apiBuildRequest(o), env)
		},
		PruneBuildCache: func(ctx context.Context, st *store.Store, all bool) (int64, error) {
			freed, busy, err := pruneBuildCache(ctx, st, all)
			if busy {
				log.Warn("a build is running; its cache was left as it is")
			}
			return freed, err
		},
		BuildCacheUsage: buildCacheRecords,
		Version:         berthVersion(),
		Logger:          log,
		IdleTimeout:     idle,
	})
	fmt.Fprintf(a.stdout, "export DOCKER_HOST=%s\n", ln.DockerHost)
	log.Info("serving the Docker Engine API", "addr", ln.DockerHost, "root", root, "api", engineapi.APIVersion)
	err = srv.Serve(ctx, ln)
	if errors.Is(err, engineapi.ErrIdle) {
		log.Info("no request for the idle timeout; stopped", "time", idle)
		return nil
	}
	return err
}

// apiBuildRequest is POST /build's parameters as a build request, with the
// context from the request body (or the remote URL) and nothing from the
// server's environment.
func apiBuildRequest(o engineapi.BuildOptions) build.Request {
	req := build.Request{
		Context: "-", Stdin: o.Context, Dockerfile: o.Dockerfile, Tags: o.Tags, Target: o.Target,
		NoCache: o.NoCache, Pull: o.Pull, Platform: o.Platform, Network: o.Network, AddHosts: o.ExtraHosts, CacheFrom: o.CacheFrom,
	}
	for k, v := range o.BuildArgs {
		req.BuildArgs = append(req.BuildArgs, k+"="+v)
	}
	for k, v := range o.Labels {
		req.Labels = append(req.Labels, k+"="+v)
	}
	sort.Strings(req.BuildArgs)
	sort.Strings(req.Labels)
	if o.Remote != "" {
		req.Context = o.Remote
	}
	return req
}
