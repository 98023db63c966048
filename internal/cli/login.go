package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berth-dev/berth/internal/remote"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type loginOptions struct {
	remoteFlags
	user, pass string
	passStdin  bool
}

func (a *app) newLoginCmd() *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry",
		Long:  "Log in to a registry.\nIf no server is specified, Docker Hub is used. Credentials go to Docker's config.json\n($DOCKER_CONFIG or ~/.docker) or its credential helper, shared with docker, skopeo and crane.",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			return a.runLogin(cmd.Context(), server, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.user, "username", "u", "", "Username")
	f.StringVarP(&o.pass, "password", "p", "", "Password or personal access token")
	f.BoolVar(&o.passStdin, "password-stdin", false, "Take the password from stdin")
	f.StringSliceVar(&o.insecure, "insecure-registry", nil, "Allow plain HTTP and unverified TLS for this registry (HOST[:PORT] or CIDR)")
	return cmd
}

func (a *app) runLogin(ctx context.Context, server string, o loginOptions) error {
	if o.pass != "" {
		fmt.Fprintln(a.stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
		if o.passStdin {
			return usageError{errors.New("--password and --password-stdin are mutually exclusive")}
		}
	}
	if o.passStdin {
		if o.user == "" {
			return usageError{dockerError("Must provide --username with --password-stdin")}
		}
		b, err := io.ReadAll(io.LimitReader(a.stdin, 1<<20))
		if err != nil {
			return fmt.Errorf("reading the password from stdin: %w", err)
		}
		o.pass = strings.TrimRight(string(b), "\r\n")
	}
	host := remote.RegistryHost(server)
	c, err := a.newRemoteClient(&o.remoteFlags)
	if err != nil {
		return err
	}
	// Like Docker: with no credentials given, try the saved ones first.
	if o.user == "" && o.pass == "" && c.LoginSaved(ctx, host, a.newEvents(false)) {
		fmt.Fprintln(a.stdout, "Login Succeeded")
		return nil
	}
	if o.user == "" || o.pass == "" {
		if err := a.promptCredentials(&o); err != nil {
			return err
		}
	}
	helper, err := c.Login(ctx, host, o.user, o.pass)
	if err != nil {
		var re *remote.Error
		if errors.As(err, &re) && re.Cause == remote.CauseAuth {
			return withHint(fmt.Errorf("login to %s failed: %w", host, err), "check the username and password (or token)")
		}
		return remoteErr(err)
	}
	if helper == "" {
		fmt.Fprintf(a.stderr, "WARNING! Your password will be stored unencrypted in %s.\nConfigure a credential helper (credsStore in config.json) to remove this warning.\n\n", c.Credentials().Dir+string(os.PathSeparator)+"config.json")
	}
	fmt.Fprintln(a.stdout, "Login Succeeded")
	return nil
}

// promptCredentials asks for what is missing on the terminal, as Docker
// does; without a terminal it refuses with Docker's message.
func (a *app) promptCredentials(o *loginOptions) error {
	in, ok := a.stdin.(*os.File)
	if !ok || !isTerminal(in) {
		return withHint(dockerError("Cannot perform an interactive login from a non TTY device"), "pass -u USER and --password-stdin")
	}
	rd := bufio.NewReader(in)
	if o.user == "" {
		fmt.Fprint(a.stdout, "Username: ")
		line, err := rd.ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("reading the username: %w", err)
		}
		o.user = strings.TrimSpace(line)
		if o.user == "" {
			return dockerError("Non-null Username Required")
		}
	}
	if o.pass == "" {
		pass, err := readNoEcho(in, rd, func() { fmt.Fprint(a.stdout, "Password: ") })
		fmt.Fprintln(a.stdout)
		if err != nil {
			return fmt.Errorf("reading the password: %w", err)
		}
		if pass == "" {
			return dockerError("Password Required")
		}
		o.pass = pass
	}
	return nil
}

// readNoEcho switches terminal echo off, then prompts and reads a line.
// Prompting only once echo is off means a password typed ahead of the
// prompt is not shown either.
func readNoEcho(f *os.File, rd *bufio.Reader, prompt func()) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	prompt()
	line, err := rd.ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (a *app) newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Long:  "Log out from a registry.\nIf no server is specified, Docker Hub is used.",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			host := remote.RegistryHost(server)
			creds := &remote.Credentials{Dir: remote.DockerConfigDir()}
			shown := remote.ServerKey(host)
			found, err := creds.Erase(cmd.Context(), host)
			if err != nil {
				return fmt.Errorf("removing login credentials for %s: %w", shown, err)
			}
			if !found {
				fmt.Fprintf(a.stdout, "Not logged in to %s\n", shown)
				return nil
			}
			fmt.Fprintf(a.stdout, "Removing login credentials for %s\n", shown)
			return nil
		},
	}
}
