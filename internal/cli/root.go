package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Main runs berth with args (args[0] is the program name) and returns the
// process exit status.
func Main(ctx context.Context, args []string) int {
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	return a.run(ctx, args[1:])
}

// app carries what every command needs: the streams, the global flags and
// lazily opened shared resources. It holds no context.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	rootDir  string // --root
	logLevel string // --log-level
	debug    bool   // -D/--debug

	st  *storeHandle
	log *slog.Logger
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	a.close()
	if err == nil {
		return 0
	}
	return a.report(ctx, err)
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Manage container images without a daemon",
		Long:          "berth builds, stores, moves and inspects container images without a daemon.\nEvery image command of the Docker CLI works with docker replaced by berth.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.setupLogging()
			return nil
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = false
	pf := root.PersistentFlags()
	pf.StringVar(&a.rootDir, "root", "", "Root directory of the local image store (default $BERTH_ROOT, /var/lib/berth for root, else $XDG_DATA_HOME/berth)")
	pf.StringVarP(&a.logLevel, "log-level", "l", "warn", `Set the logging level ("debug", "info", "warn", "error")`)
	pf.BoolVarP(&a.debug, "debug", "D", false, "Enable debug mode")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	image := &cobra.Command{Use: "image", Short: "Manage images", Args: noArgs}
	system := &cobra.Command{Use: "system", Short: "Manage berth's local store", Args: noArgs}
	builder := &cobra.Command{Use: "builder", Short: "Manage builds", Args: noArgs}
	root.AddCommand(image, system, builder)

	// One constructor per verb; each file owns its command. Where Docker has
	// both `berth X` and `berth image X`, the same constructor serves both.
	root.AddCommand(
		a.newVersionCmd(),
		// local images
		a.newImagesCmd("images"),
		a.newImportCmd(),
		a.newInspectCmd("inspect"),
		a.newHistoryCmd("history"),
		a.newTagCmd("tag"),
		a.newRmiCmd("rmi"),
		// archives
		a.newSaveCmd(),
		a.newLoadCmd(),
		// registries
		a.newPullCmd(),
		a.newPushCmd(),
		a.newLoginCmd(),
		a.newLogoutCmd(),
		a.newSearchCmd(),
		a.newRegistryCmd(),
		// build and its sandbox
		a.newBuildCmd(),
		a.newSandboxExecCmd(),
		// understanding images
		a.newDiveCmd("dive"),
		a.newScanCmd(),
		a.newScoutCmd(),
		a.newSBOMCmd(),
	)
	image.AddCommand(
		a.newImagesCmd("ls"),
		a.newImportCmd(),
		a.newInspectCmd("inspect"),
		a.newHistoryCmd("history"),
		a.newTagCmd("tag"),
		a.newRmiCmd("rm"),
		a.newImagePruneCmd(),
		a.newSaveCmd(),
		a.newLoadCmd(),
		a.newPullCmd(),
		a.newPushCmd(),
		a.newDiveCmd("analyze"),
		a.newBuildCmd(),
	)
	builder.AddCommand(
		a.newBuildCmd(),
		a.newBuilderPruneCmd(),
	)
	system.AddCommand(
		a.newSystemDfCmd(),
		a.newSystemPruneCmd(),
		a.newSystemCheckCmd(),
		a.newSystemServiceCmd(),
	)
	return root
}

// noArgs rejects arguments with Docker's wording and exit status.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%q accepts no arguments", cmd.CommandPath())}
	}
	return nil
}

// exactArgs, minArgs and rangeArgs wrap cobra's validators so that a wrong
// argument count is a usage error (exit 125), as in Docker.
func exactArgs(n int) cobra.PositionalArgs { return wrapArgs(cobra.ExactArgs(n)) }
func minArgs(n int) cobra.PositionalArgs   { return wrapArgs(cobra.MinimumNArgs(n)) }
func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return wrapArgs(cobra.RangeArgs(lo, hi))
}

func wrapArgs(f cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			return usageError{fmt.Errorf("%q requires %s.\nSee '%s --help'", cmd.CommandPath(), argsPhrase(err), cmd.CommandPath())}
		}
		return nil
	}
}

func argsPhrase(err error) string {
	var s = err.Error()
	if s == "" {
		return "different arguments"
	}
	return "different arguments (" + s + ")"
}

func (a *app) setupLogging() {
	level := slog.LevelWarn
	if a.debug {
		level = slog.LevelDebug
	} else {
		_ = level.UnmarshalText([]byte(a.logLevel))
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

func (a *app) logger() *slog.Logger {
	if a.log == nil {
		a.setupLogging()
	}
	return a.log
}

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.stdout, format, args...) }
