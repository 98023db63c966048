// Command berth manages container images without a daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-dev/berth/internal/cli"
	"github.com/berth-dev/berth/internal/sandbox"
)

func main() {
	// The sandbox re-exec hook goes first (see internal/sandbox): a re-executed
	// child must not run any of the CLI's setup.
	sandbox.Main()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args)
	stop()
	os.Exit(code)
}
