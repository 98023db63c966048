package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/engineapi"
	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/remote"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
)

// newInfoCmd is `info` and `system info`: what the Engine API's /info
// reports for berth's store (engineapi.Info), so `docker info --format
// '{{.DockerRootDir}}'`-style lines work, and a short Docker-shaped text.
func (a *app) newInfoCmd(use string) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     use + " [OPTIONS]",
		Short:   "Display system-wide information",
		Args:    noArgs,
		Example: "  berth info\n  berth system info --format '{{.DockerRootDir}}'",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			var set *remote.Settings
			if c, err := a.newRemoteClient(nil); err == nil {
				s := c.Settings()
				set = &s
			}
			info, err := engineapi.Info(ctx, st, berthVersion(), set)
			if err != nil {
				return err
			}
			switch format {
			case "":
			case "json":
				b, err := json.Marshal(info)
				if err != nil {
					return err
				}
				a.stdout.Write(append(b, '\n'))
				return nil
			default:
				tmpl, err := output.Parse(format)
				if err != nil {
					return usageError{err}
				}
				var b strings.Builder
				if err := tmpl.Execute(&b, info); err != nil {
					return fmt.Errorf("template: %w", err)
				}
				a.printf("%s\n", b.String())
				return nil
			}
			a.printf("Client:\n Version:    %s\n Context:    default\n Debug Mode: %t\n\n", berthVersion(), a.debug)
			a.printf("Server:\n Containers: 0\n  Running: 0\n  Paused: 0\n  Stopped: 0\n Images: %d\n Server Version: %s\n", info.Images, info.ServerVersion)
			a.printf(" Storage Driver: %s\n  Root Dir: %s\n Logging Driver: %s\n Cgroup Driver: %s\n", info.Driver, info.DockerRootDir, info.LoggingDriver, info.CgroupDriver)
			a.printf(" Swarm: inactive\n Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n CPUs: %d\n Total Memory: %s\n Name: %s\n ID: %s\n Docker Root Dir: %s\n Debug Mode: false\n",
				info.KernelVersion, info.OperatingSystem, info.OSType, info.Architecture, info.NCPU, units.BytesSize(float64(info.MemTotal)), info.Name, info.ID, info.DockerRootDir)
			if rc := info.RegistryConfig; rc != nil {
				a.printf(" Insecure Registries:\n")
				for name, ic := range rc.IndexConfigs {
					if !ic.Secure {
						a.printf("  %s\n", name)
					}
				}
				for _, p := range rc.InsecureRegistryCIDRs {
					a.printf("  %s\n", p)
				}
				if len(rc.Mirrors) > 0 {
					a.printf(" Registry Mirrors:\n")
					for _, m := range rc.Mirrors {
						a.printf("  %s\n", m)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json', or a Go template over the Engine API's /info)")
	return cmd
}
