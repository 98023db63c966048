package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/analyze"
	"github.com/berth-dev/berth/internal/analyze/tui"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
)

type diveOptions struct {
	source       string
	platform     string
	ci           bool
	ciConfig     string
	jsonFile     string
	ignoreErrors bool
	rules        analyze.Rules
}

// newDiveCmd is `berth dive IMAGE`; the same constructor serves `berth image
// analyze`. Flags and CI output are dive 0.13.1's so existing dive CI setups
// work unchanged.
func (a *app) newDiveCmd(use string) *cobra.Command {
	var o diveOptions
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] IMAGE",
		Short: "Show what each layer of an image adds and what it wastes",
		Long: `Explore an image layer by layer, find the files that waste space and why.

IMAGE is a name in berth's store, or a source-prefixed argument:
  docker-archive:FILE   a 'docker save' archive
  oci-archive:FILE      a tar of an OCI image layout
  oci:DIR[:TAG]         an OCI image layout directory
  registry:REF          an image in a registry, streamed without importing
A plain path to an archive or layout directory is detected by its content.

With --ci (or CI=true) the image is checked against dive's rules (from
.dive-ci or --ci-config, overridden by the rule flags) and berth exits 1 when
a rule fails.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDive(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.source, "source", "", "Where IMAGE is: "+sourceNames()+" (default: from the IMAGE prefix or its content, else the store)")
	f.StringVar(&o.platform, "platform", "", "Platform of a multi-platform image (os/arch[/variant])")
	f.BoolVar(&o.ci, "ci", false, "Skip the interactive view and validate against CI rules (same as env var CI=true)")
	f.StringVar(&o.ciConfig, "ci-config", ".dive-ci", "With CI, the YAML file of validation rules")
	f.StringVarP(&o.jsonFile, "json", "j", "", "Skip the interactive view and write the analysis as JSON to FILE")
	f.BoolVarP(&o.ignoreErrors, "ignore-errors", "i", false, "Accepted for dive compatibility: odd layer entries never stop the analysis")
	f.StringVar(&o.rules.LowestEfficiency, "lowestEfficiency", "0.9", "(CI) lowest allowable image efficiency (a ratio between 0-1)")
	f.StringVar(&o.rules.HighestWastedBytes, "highestWastedBytes", "disabled", "(CI) highest allowable bytes wasted")
	f.StringVar(&o.rules.HighestUserWastedPercent, "highestUserWastedPercent", "0.1", "(CI) highest allowable share of wasted bytes (a ratio between 0-1)")
	cmd.AddCommand(a.newDiveBuildCmd())
	return cmd
}

// newDiveBuildCmd is `berth dive build [build arguments] CONTEXT`, as `dive
// build`: every argument goes to `berth build`, then the image it made is
// analyzed (interactively, or in CI mode with CI=true and .dive-ci).
func (a *app) newDiveBuildCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "build [build arguments] CONTEXT",
		Short:              "Build an image with berth build, then analyze it",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
				return cmd.Help()
			}
			// The build runs through the same command tree, so flags such as
			// --root given here reach both the build and the analysis; it
			// leaves its image ID in the app (no file in the system's temp
			// directory, which a kill would leave behind).
			a.builtID = ""
			if code := a.run(cmd.Context(), append([]string{"build"}, args...)); code != exitOK {
				return exitError{code: code}
			}
			if a.builtID == "" {
				return errors.New("the build made no image to analyze")
			}
			o := diveOptions{ciConfig: ".dive-ci", rules: analyze.DefaultRules()}
			return a.runDive(cmd, "berth:"+a.builtID, o)
		},
	}
}

func sourceNames() string {
	var s []string
	for _, k := range image.SourceKinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

func (a *app) runDive(cmd *cobra.Command, arg string, o diveOptions) error {
	ctx := cmd.Context()
	if v, err := strconv.ParseBool(os.Getenv("CI")); err == nil && v {
		o.ci = true
	}
	st := analyze.Styler{NoColor: os.Getenv("NO_COLOR") != ""}
	out := a.stdout
	rules := analyze.DefaultRules()
	if o.ci {
		fileRules, found, err := analyze.ReadCIConfig(o.ciConfig)
		if err != nil {
			fmt.Fprintf(out, "ci configuration error: %v\n", err)
			return exitError{code: exitFailure}
		}
		if found {
			fmt.Fprintf(out, "  Using CI config: %s\n", o.ciConfig)
		} else {
			fmt.Fprintln(out, "  Using default CI config")
		}
		rules = mergeRules(cmd, o.rules, fileRules)
	}

	plat, err := parsePlatformFlag(o.platform)
	if err != nil {
		return err
	}
	kind := image.SourceKind(o.source)
	if o.source != "" && o.source != "docker" && o.source != "podman" && !knownSource(kind) {
		return usageError{fmt.Errorf("unable to determine image source: %v (want one of %s)", o.source, sourceNames())}
	}
	img, err := a.openImage(ctx, arg, image.OpenOptions{Kind: kind, Platform: plat})
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return err
		}
		return withHint(fmt.Errorf("cannot fetch image: %w", err), diveHint(err))
	}
	defer img.Close()
	aopts := analyze.Options{StoredBlobs: img.StoredBlobs, Verified: img.Verified, Logger: a.logger()}
	if !o.ci && o.jsonFile == "" && isTerminal(a.stdout) && isTerminal(a.stdin) {
		// The interactive view opens at once and shows progress while the
		// layers are read.
		return tui.RunLoading(ctx, img.Name, func(ctx context.Context, progress func(int, int)) (*analyze.Report, error) {
			aopts.Progress = progress
			rep, err := analyze.Analyze(ctx, img, img.Name, string(img.Kind), aopts)
			if err != nil {
				return nil, fmt.Errorf("cannot analyze image: %w", err)
			}
			return rep, nil
		}, a.stdin, a.stdout)
	}
	progress := out
	if !o.ci && o.jsonFile == "" {
		progress = io.Discard
	}
	fmt.Fprintln(progress, st.Title("Image Source: ")+string(img.Kind)+"://"+img.Name)
	fmt.Fprintln(progress, st.Title("Extracting image from "+string(img.Kind)+"...")+" (this can take a while for large images)")
	fmt.Fprintln(progress, st.Title("Analyzing image..."))
	rep, err := analyze.Analyze(ctx, img, img.Name, string(img.Kind), aopts)
	if err != nil {
		return fmt.Errorf("cannot analyze image: %w", err)
	}

	if o.jsonFile != "" {
		fmt.Fprintln(out, st.Title(fmt.Sprintf("Exporting image to '%s'...", o.jsonFile)))
		return writeReportJSON(o.jsonFile, rep)
	}
	if o.ci {
		analyze.WriteCISummary(out, rep)
		res := rules.Evaluate(rep)
		analyze.WriteCIReport(out, rep, res, st)
		// Hints go to stderr so stdout stays byte for byte what dive prints.
		writeHints(a.stderr, rep)
		if !res.Pass {
			return exitError{code: exitFailure}
		}
		return nil
	}
	return writeSummary(out, rep)
}

func knownSource(k image.SourceKind) bool {
	for _, x := range image.SourceKinds {
		if x == k {
			return true
		}
	}
	return false
}

func diveHint(err error) string {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "pull it first (berth pull), or name a source: docker-archive:FILE, oci-archive:FILE, oci:DIR, registry:REF"
	case errors.Is(err, os.ErrNotExist):
		return "check the path; sources are docker-archive:FILE, oci-archive:FILE, oci:DIR[:TAG], registry:REF"
	}
	var h hinted // a registry's own advice (log in, trust its CA)
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}

// mergeRules applies viper's precedence: a flag given on the command line,
// else the config file, else the flag's default.
func mergeRules(cmd *cobra.Command, flags, file analyze.Rules) analyze.Rules {
	pick := func(name, flagVal, fileVal string) string {
		if cmd.Flags().Changed(name) || fileVal == "" {
			return flagVal
		}
		return fileVal
	}
	return analyze.Rules{
		LowestEfficiency:         pick("lowestEfficiency", flags.LowestEfficiency, file.LowestEfficiency),
		HighestWastedBytes:       pick("highestWastedBytes", flags.HighestWastedBytes, file.HighestWastedBytes),
		HighestUserWastedPercent: pick("highestUserWastedPercent", flags.HighestUserWastedPercent, file.HighestUserWastedPercent),
	}
}

func writeReportJSON(path string, rep *analyze.Report) error {
	f, err := fsutil.CreateAtomic(path)
	if err != nil {
		return fmt.Errorf("cannot open export file: %w", err)
	}
	// 0644 as dive writes it: a report, not a secret.
	if err := f.Chmod(0o644); err != nil {
		f.Abort()
		return fmt.Errorf("cannot open export file: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Abort()
		return fmt.Errorf("cannot write to export file: %w", err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("cannot write to export file: %w", err)
	}
	return nil
}

func writeHints(w io.Writer, rep *analyze.Report) {
	if len(rep.Hints) == 0 {
		return
	}
	fmt.Fprintln(w, "Hints:")
	for _, h := range rep.Hints {
		fmt.Fprintf(w, "  - %s\n", h.Message)
	}
}

// writeSummary is the view when there is no terminal to draw on: the
// layers, the figures, the wasted files and the hints as plain text.
func writeSummary(w io.Writer, rep *analyze.Report) error {
	tui.WriteText(w, rep)
	writeHints(w, rep)
	return nil
}
