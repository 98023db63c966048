package cli

import (
	"strings"

	"github.com/berth-dev/berth/internal/ref"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/spf13/cobra"
)

// Shell completion: cobra's scripts for bash, zsh and fish call `berth
// __complete ARGS…`, which lands here. Image arguments complete to the
// names in the local store (repo:tag, as Docker's completion offers them),
// pull/push/login to the registry hosts of config.json's logins too, and
// the flags whose values are a closed set (--platform, --format,
// --progress) to those values. Completion never fails a command: any error
// completes nothing.

// completionPlatforms are the platforms Docker's images are built for.
var completionPlatforms = []string{
	"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/386",
	"linux/ppc64le", "linux/s390x", "linux/riscv64", "windows/amd64",
}

// completionFormats are the --format keys every listing takes; commands
// with a table also take "table TEMPLATE", which no list can hold.
var completionFormats = []string{"table", "json", "{{json .}}"}

var completionProgress = []string{"auto", "plain", "tty", "quiet", "rawjson"}

// imageArgCommands are the commands whose arguments are images in the
// local store, by name (under any group).
var imageArgCommands = map[string]bool{
	"inspect": true, "history": true, "tag": true, "rmi": true, "rm": true, "remove": true,
	"save": true, "push": true, "dive": true, "analyze": true, "scan": true, "sbom": true, "cves": true,
	"images": true, "ls": true, "list": true,
}

// addCompletions walks the command tree once it is built and attaches the
// completion functions.
func (a *app) addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, values := range map[string][]string{"platform": completionPlatforms, "format": completionFormats, "progress": completionProgress} {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
			}
		}
		if c.ValidArgsFunction == nil && c.Parent() != nil && c.Parent().Name() != "db" {
			switch name := c.Name(); {
			case name == "pull" || name == "push":
				c.ValidArgsFunction = a.completeRemoteImages
			case name == "login" || name == "logout":
				c.ValidArgsFunction = a.completeHosts
			case name == "inspect" && c.Parent().Name() == "imagetools":
				c.ValidArgsFunction = a.completeRemoteImages
			case imageArgCommands[name] && c.Parent().Name() != "registry":
				c.ValidArgsFunction = a.completeImages
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// imageNames lists the store's names as users type them (busybox:latest,
// localhost:5000/app:1).
func (a *app) imageNames(cmd *cobra.Command) []string {
	st, err := a.openStore(cmd.Context())
	if err != nil {
		return nil
	}
	imgs, err := st.Images(cmd.Context())
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, img := range imgs {
		for _, n := range img.Names {
			if strings.Contains(n, "@") {
				continue
			}
			f := ref.FamiliarString(n)
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

func (a *app) completeImages(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return filterPrefix(a.imageNames(cmd), toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeRemoteImages offers the local names (push's usual argument, and
// pull's to refresh) and each logged-in registry as "HOST/", after which
// the user types the repository.
func (a *app) completeRemoteImages(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	out := a.imageNames(cmd)
	for _, h := range a.loginHosts() {
		out = append(out, h+"/")
	}
	out = filterPrefix(out, toComplete)
	dir := cobra.ShellCompDirectiveNoFileComp
	for _, o := range out {
		if strings.HasSuffix(o, "/") {
			// "HOST/" is a prefix, not a word: no space after it.
			dir |= cobra.ShellCompDirectiveNoSpace
			break
		}
	}
	return out, dir
}

func (a *app) completeHosts(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return filterPrefix(a.loginHosts(), toComplete), cobra.ShellCompDirectiveNoFileComp
}

// loginHosts are the registries config.json holds logins for.
func (a *app) loginHosts() []string {
	cfg, err := remote.LoadDockerConfig(remote.DockerConfigDir())
	if err != nil {
		return nil
	}
	return cfg.Hosts()
}

func filterPrefix(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}
