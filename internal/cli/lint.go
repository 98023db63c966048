package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/lint"
	"github.com/berth-dev/berth/internal/store"
)

// lintRequest is what `berth lint` and `berth build --check` ask for.
type lintRequest struct {
	file       string // -f; "" for CONTEXT/Dockerfile, "-" for stdin
	contextArg string // a directory, "-", a Git or http(s) URL
	format     string // text, json, sarif
	config     string // --config; "" for CONTEXT/.berth-lint.yaml when there is one
	exitCode   bool   // fail on warnings too
	buildArgs  []string
	target     string
}

func (a *app) newLintCmd() *cobra.Command {
	var r lintRequest
	cmd := &cobra.Command{
		Use:   "lint [OPTIONS] [PATH | URL | -]",
		Short: "Check a Dockerfile: BuildKit's build checks and the practices of small, safe images",
		Long: `Check a Dockerfile without building it: BuildKit's build checks (the rules
of docker build --check, with their ids and # check= directives) and berth's
rules for image size and safety. PATH is the build context (default "."); its
.dockerignore and .berth-lint.yaml are read. Exit status 1 when an error-level
rule fires (with --exit-code, a warning too).`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.contextArg = "."
			if len(args) == 1 {
				r.contextArg = args[0]
			}
			return a.runLint(cmd.Context(), r)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&r.file, "file", "f", "", `Name of the Dockerfile (default: "PATH/Dockerfile")`)
	fl.StringVar(&r.format, "format", "text", `Output format: "text", "json" or "sarif" (SARIF 2.1.0, for code-scanning UIs)`)
	fl.StringVar(&r.config, "config", "", `Rules to switch off or re-level (default: "PATH/`+lint.ConfigName+`" when present)`)
	fl.BoolVar(&r.exitCode, "exit-code", false, "Exit with status 1 when a warning-level rule fires, not only an error-level one")
	fl.StringArrayVar(&r.buildArgs, "build-arg", nil, "Set build-time variables, as for build")
	fl.StringVar(&r.target, "target", "", "Check as if building this stage (default: the last)")
	return cmd
}

// runLint checks the Dockerfile and renders the findings to stdout. It is
// `berth build --check`'s entry point too.
func (a *app) runLint(ctx context.Context, r lintRequest) error {
	switch r.format {
	case "text", "json", "sarif":
	default:
		return usageError{fmt.Errorf("invalid --format %q: use text, json or sarif", r.format)}
	}
	// A remote context is fetched into a temp directory, removed however
	// the check ends.
	tmp, err := os.MkdirTemp("", "berth-lint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	in, err := build.ReadInput(ctx, r.file, r.contextArg, a.stdin, tmp)
	if err != nil {
		return err
	}
	df, contextDir, dfName := in.Dockerfile, in.ContextDir, in.DockerfilePath
	opts := lint.Options{
		Name: displayName(dfName, contextDir), Dockerfile: df, Target: r.target,
		BuildArgs: build.BuildArgs(r.buildArgs, os.LookupEnv),
	}
	// BuildKit resolves the bases of several stages at once: the store is
	// opened here, once, not lazily from those goroutines.
	if st, err := a.openStore(ctx); err == nil {
		opts.BaseImage = func(ctx context.Context, name string) ([]byte, bool) { return storeConfig(ctx, st, name) }
	}
	if contextDir != "" {
		c, err := lintContext(contextDir, dfName, in.Fetched)
		if err != nil {
			return err
		}
		opts.Context = c
	}
	cfgPath := r.config
	if cfgPath == "" && contextDir != "" && !in.Fetched {
		if p := filepath.Join(contextDir, lint.ConfigName); fileExists(p) {
			cfgPath = p
		}
	}
	if cfgPath != "" {
		if opts.Config, err = readLintConfig(cfgPath); err != nil {
			return err
		}
	}
	rep, err := lint.Run(ctx, opts)
	if err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(a.stderr, "note: %s\n", n)
	}
	switch r.format {
	case "json":
		err = writeLintJSON(a.stdout, rep)
	case "sarif":
		err = writeLintSARIF(a.stdout, rep)
	default:
		err = writeLintText(a.stdout, rep)
	}
	if err != nil {
		return err
	}
	if rep.BuildError != nil {
		return rep.BuildError
	}
	if rep.Count(lint.Error) > 0 || r.exitCode && rep.Count(lint.Warning) > 0 {
		return exitError{code: exitFailure}
	}
	return nil
}

// displayName is the Dockerfile's name in findings: relative to the
// context when it is inside it, as BuildKit names it.
func displayName(dfName, contextDir string) string {
	if contextDir != "" {
		if rel, err := filepath.Rel(contextDir, dfName); err == nil && filepath.IsLocal(rel) {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.Base(dfName)
}

// lintContext is the rules' view of the context: the names at its root and
// the .dockerignore that applies.
func lintContext(dir, dfName string, fetched bool) (*lint.Context, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the build context: %w", err)
	}
	c := &lint.Context{}
	for _, e := range ents {
		c.Names = append(c.Names, e.Name())
	}
	if c.Ignore, err = build.ReadIgnore(dir, dfName, fetched); err != nil {
		return nil, err
	}
	return c, nil
}

func readLintConfig(path string) (lint.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return lint.Config{}, withHint(fmt.Errorf("reading lint config: %w", err), "--config names a "+lint.ConfigName+" file")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, lint.MaxConfigSize+1))
	if err != nil {
		return lint.Config{}, fmt.Errorf("reading lint config: %w", err)
	}
	c, err := lint.ParseConfig(data)
	if err != nil {
		return lint.Config{}, withHint(err, "rules: maps a rule id to off, info, warning or error")
	}
	return c, nil
}

// storeConfig gives the linter a base image's config from berth's store
// only: a check never reaches the network.
func storeConfig(ctx context.Context, st *store.Store, name string) ([]byte, bool) {
	im, err := st.Lookup(ctx, name)
	if err != nil {
		return nil, false
	}
	img, err := st.Image(ctx, im, nil)
	if err != nil {
		return nil, false
	}
	b, err := img.RawConfigFile()
	return b, err == nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// checkBuild is `berth build --check` (and --call=check): the checks of the
// build's Dockerfile and context, and no build.
func (a *app) checkBuild(ctx context.Context, f buildFlags, ctxArg, format string) error {
	if format == "" {
		format = "text"
	}
	return a.runLint(ctx, lintRequest{file: f.file, contextArg: ctxArg, format: format, buildArgs: f.buildArgs, target: f.target})
}
