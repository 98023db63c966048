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

	builtID string // the image the last build of this process made (dive build reads it)
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

	// `berth` alone prints its help; `berth bogus` fails as Docker does.
	root.Args = unknownSubcommand
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	image := groupCmd("image", "Manage images")
	system := groupCmd("system", "Manage berth's local store")
	builder := groupCmd("builder", "Manage builds")
	root.AddCommand(image, system, builder)

	// One constructor per verb; each file owns its command. Where Docker has
	// both `berth X` and `berth image X`, the same constructor serves both.
	root.AddCommand(
		a.newVersionCmd(),
		a.newInfoCmd("info"),
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
		a.newBuildxCmd(),
		a.newLintCmd(),
		a.newSandboxExecCmd(),
		// understanding images
		a.newDiveCmd("dive"),
		a.newScanCmd(),
		a.newScoutCmd(),
		a.newSBOMCmd(),
	)
	image.AddCommand(
		withAliases(a.newImagesCmd("ls"), "list"),
		a.newImportCmd(),
		a.newInspectCmd("inspect"),
		a.newHistoryCmd("history"),
		a.newTagCmd("tag"),
		withAliases(a.newRmiCmd("rm"), "remove"),
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
		a.newBuilderDuCmd(),
	)
	system.AddCommand(
		a.newSystemDfCmd(),
		a.newInfoCmd("info"),
		a.newSystemPruneCmd(),
		a.newSystemCheckCmd(),
		a.newSystemServiceCmd(),
	)
	a.addCompletions(root)
	return root
}

// withAliases adds Docker's other names of a command (image ls|list).
func withAliases(c *cobra.Command, aliases ...string) *cobra.Command {
	c.Aliases = append(c.Aliases, aliases...)
	return c
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
