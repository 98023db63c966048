package image

import (
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// ApplyChanges applies `--change` instructions (CMD, ENTRYPOINT, ENV,
// WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL, ONBUILD) to cfg, parsed
// exactly as a Dockerfile line would be.
func ApplyChanges(cfg *v1.Config, changes []string) error {
	for _, c := range changes {
		if strings.TrimSpace(c) == "" {
			continue
		}
		res, err := parser.Parse(strings.NewReader(c + "\n"))
		if err != nil {
			return fmt.Errorf("invalid change %s: %w", untrusted.Quote(c), err)
		}
		for _, node := range res.AST.Children {
			inst, err := instructions.ParseInstruction(node)
			if err != nil {
				return fmt.Errorf("invalid change %s: %w", untrusted.Quote(c), err)
			}
			// Quotes and variables are expanded as the Dockerfile dispatcher
			// does, against the image's environment so far.
			if ex, ok := inst.(instructions.SupportsSingleWordExpansion); ok {
				lex := shell.NewLex('\\')
				env := shell.EnvsFromSlice(cfg.Env)
				err := ex.Expand(func(w string) (string, error) {
					s, _, err := lex.ProcessWord(w, env)
					return s, err
				})
				if err != nil {
					return fmt.Errorf("invalid change %s: %w", untrusted.Quote(c), err)
				}
			}
			if err := apply(cfg, inst, node); err != nil {
				return fmt.Errorf("invalid change %s: %w", untrusted.Quote(c), err)
			}
		}
	}
	return nil
}

func apply(cfg *v1.Config, inst any, node *parser.Node) error {
	switch in := inst.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd = shellOrExec(in.CmdLine, in.PrependShell, cfg.Shell)
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shellOrExec(in.CmdLine, in.PrependShell, cfg.Shell)
	case *instructions.EnvCommand:
		for _, kv := range in.Env {
			cfg.Env = SetEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.WorkdirCommand:
		cfg.WorkingDir = in.Path
	case *instructions.UserCommand:
		cfg.User = in.User
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range in.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range in.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range in.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.StopSignalCommand:
		cfg.StopSignal = in.Signal
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, in.Expression)
	default:
		return fmt.Errorf("%s is not supported here (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR)", strings.ToUpper(node.Value))
	}
	return nil
}

func shellOrExec(args []string, shell bool, sh []string) []string {
	if !shell {
		return append([]string{}, args...)
	}
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), strings.Join(args, " "))
}

// SetEnv sets key=value in an environment list, replacing an existing key.
func SetEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			out := append([]string{}, env...)
			out[i] = key + "=" + value
			return out
		}
	}
	return append(append([]string{}, env...), key+"="+value)
}
