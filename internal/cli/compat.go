package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// This file holds what makes berth's command tree behave like Docker's CLI
// when a command line is wrong: argument counts, unknown subcommands of a
// group, and the group commands themselves. Docker 28's wording is the
// reference ("'docker tag' requires 2 arguments", "unknown command: docker
// image lss"), and so is its exit status: 1 for both, not the 125 Docker
// keeps for flags it cannot parse.

// argCountError is a wrong number of arguments. It is not a usageError:
// Docker exits 1 here.
type argCountError struct {
	cmd    *cobra.Command
	phrase string // "requires 2 arguments", "accepts no arguments", …
}

func (e argCountError) Error() string {
	return fmt.Sprintf("'%s' %s", e.cmd.CommandPath(), e.phrase)
}

// usageHint is the line Docker prints under the error: the usage line and
// where to read more.
func usageHint(cmd *cobra.Command) string {
	return fmt.Sprintf("usage: %s (run '%s --help' for more information)", strings.TrimSuffix(cmd.UseLine(), " [flags]"), cmd.CommandPath())
}

// noArgs rejects arguments with Docker's wording and exit status.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return argCountError{cmd, "accepts no arguments"}
	}
	return nil
}

// exactArgs, minArgs and rangeArgs check the argument count as Docker's
// cli.ExactArgs, cli.RequiresMinArgs and cli.RequiresRangeArgs do, with
// their messages.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return argCountError{cmd, "requires " + plural(n)}
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return argCountError{cmd, "requires at least " + plural(n)}
		}
		return nil
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) >= lo && len(args) <= hi:
			return nil
		case len(args) < lo:
			return argCountError{cmd, "requires at least " + plural(lo)}
		case lo == 0:
			return argCountError{cmd, "requires at most " + plural(hi)}
		default:
			return argCountError{cmd, fmt.Sprintf("requires at least %d and at most %s", lo, plural(hi))}
		}
	}
}

func plural(n int) string {
	if n == 1 {
		return "1 argument"
	}
	return fmt.Sprintf("%d arguments", n)
}

// unknownCommandError is a subcommand no group has: Docker's
// "unknown command: docker image lss", exit 1.
type unknownCommandError struct {
	cmd  *cobra.Command
	name string
}

func (e unknownCommandError) Error() string {
	return fmt.Sprintf("unknown command: %s %s", e.cmd.CommandPath(), e.name)
}

func (e unknownCommandError) hint() string {
	if s := e.cmd.SuggestionsFor(e.name); len(s) > 0 {
		return fmt.Sprintf("did you mean '%s %s'? (run '%s --help' for the commands)", e.cmd.CommandPath(), strings.Join(s, "' or '"+e.cmd.CommandPath()+" "), e.cmd.CommandPath())
	}
	return fmt.Sprintf("run '%s --help' for the commands", e.cmd.CommandPath())
}

// groupCmd is a command that only holds subcommands (image, system,
// builder, registry …). Alone it prints its help and exits 0, as Docker's
// groups do; with an argument that is no subcommand it fails. Cobra alone
// would print the help and exit 0 for `berth image lss`.
func groupCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  unknownSubcommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
}

func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return unknownCommandError{cmd, args[0]}
	}
	return nil
}

// argHint returns the hint line for the CLI-shape errors above, if err is
// one.
func argHint(err error) (string, bool) {
	var ac argCountError
	if errors.As(err, &ac) {
		return usageHint(ac.cmd), true
	}
	var uc unknownCommandError
	if errors.As(err, &uc) {
		return uc.hint(), true
	}
	return "", false
}
