package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// sshAuthSock is where the first forwarded ssh mount sits, for
// SSH_AUTH_SOCK (as BuildKit sets it), or "".
func sshAuthSock(mounts []*instructions.Mount, rms []RunMount) string {
	n := 0
	for _, m := range mounts {
		if m.Type != instructions.MountTypeSSH {
			continue
		}
		target := m.Target
		if target == "" {
			target = fmt.Sprintf("/run/buildkit/ssh_agent.%d", n)
		}
		n++
		for _, rm := range rms {
			if rm.Target == target && rm.Type == "bind" {
				return target
			}
		}
	}
	return ""
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// runMounts resolves RUN --mount options to host paths.
func (b *Builder) runMounts(ctx context.Context, st *stageState, mounts []*instructions.Mount) ([]RunMount, func(), error) {
	var out []RunMount
	var tmps []string
	cleanup := func() {
		for _, t := range tmps {
			os.RemoveAll(t)
		}
	}
	nssh := 0
	for _, m := range mounts {
		rm := RunMount{Type: string(m.Type), Target: m.Target, ReadOnly: m.ReadOnly, Sharing: string(m.CacheSharing)}
		if m.Type == instructions.MountTypeSSH {
			// An ssh-agent socket the user forwarded with --ssh, bound in
			// where BuildKit puts it (/run/buildkit/ssh_agent.N).
			id := m.CacheID
			if id == "" {
				id = "default"
			}
			if rm.Target == "" {
				rm.Target = fmt.Sprintf("/run/buildkit/ssh_agent.%d", nssh)
			}
			nssh++
			sock, ok := b.opts.SSH[id]
			if !ok {
				if m.Required {
					return nil, cleanup, fmt.Errorf("ssh %s: not forwarded (use --ssh %s, or --ssh %s=SOCKET)", id, id, id)
				}
				continue
			}
			// Read-only whatever the flags say: a socket needs no write
			// access to be connected to, and cannot be copied for a rw view.
			rm.Type, rm.Source, rm.ReadOnly = "bind", sock, true
			out = append(out, rm)
			continue
		}
		if !path.IsAbs(rm.Target) && rm.Target != "" {
			rm.Target = path.Join(orRoot(st.cfg.Config.WorkingDir), rm.Target)
		}
		if m.Mode != nil {
			rm.Mode = uint32(*m.Mode)
		}
		if m.UID != nil {
			rm.UID = int(*m.UID)
		}
		if m.GID != nil {
			rm.GID = int(*m.GID)
		}
		switch m.Type {
		case instructions.MountTypeCache:
			id := m.CacheID
			if id == "" {
				id = rm.Target
			}
			if b.opts.StateDir == "" {
				return nil, cleanup, errors.New("cache mounts need a state directory")
			}
			rm.Source = filepath.Join(b.opts.StateDir, "mounts", chainKey(id)[:32])
		case instructions.MountTypeTmpfs:
		case instructions.MountTypeSecret:
			id := m.CacheID
			if id == "" && m.Target != "" {
				id = path.Base(m.Target)
			}
			src, ok := b.opts.Secrets[id]
			if !ok {
				if m.Required {
					return nil, cleanup, fmt.Errorf("secret %s: not provided (use --secret id=%s,src=FILE)", id, id)
				}
				continue
			}
			rm.Source = src
			if rm.Target == "" {
				rm.Target = "/run/secrets/" + id
			}
			if rm.Mode == 0 {
				rm.Mode = 0o400
			}
		case instructions.MountTypeBind:
			src := strings.TrimPrefix(path.Clean("/"+m.Source), "/")
			cfs, fromDir := b.namedDir(m.From, st.sp.Index)
			if m.From == "" {
				if b.opts.ContextDir == "" {
					return nil, cleanup, errors.New("bind mount from the build context: no context")
				}
				cfs, fromDir = b.ctxfs, true
			}
			if fromDir {
				// Resolved inside the context, links included: a link to
				// "/" must not bind the host's root.
				rel, host, err := cfs.bindSource(src)
				if err != nil {
					return nil, cleanup, fmt.Errorf("bind mount source %s: %w", m.Source, err)
				}
				rm.Source = host
				// What .dockerignore leaves out never reaches a build, as with
				// BuildKit (which is never sent it): bind a view without it.
				if cfs.excludesUnder(rel) {
					root, err := os.MkdirTemp(b.tempDir(), "bind-")
					if err != nil {
						return nil, cleanup, err
					}
					tmps = append(tmps, root)
					view := filepath.Join(root, "view")
					if err := cfs.view(view, rel); err != nil {
						return nil, cleanup, fmt.Errorf("bind mount of %s: %w", m.Source, err)
					}
					rm.Source = view
				}
			} else {
				// The executor mounts the stage's layers read-only (unpacked
				// once per layer and shared) and binds src from inside them.
				layers, err := b.fromLayers(ctx, m.From, st.sp.Index)
				if err != nil {
					return nil, cleanup, err
				}
				for _, l := range layers {
					rm.Layers = append(rm.Layers, b.v1Layer(l))
				}
				rm.Source = "/" + src
			}
			if !m.ReadOnly {
				// Writes to a bind mount are discarded; we mount read-write only
				// when asked (rw) — the executor keeps them out of the layer.
				rm.ReadOnly = false
			}
		default:
			return nil, cleanup, fmt.Errorf("RUN --mount=type=%s is not supported", m.Type)
		}
		out = append(out, rm)
	}
	return out, cleanup, nil
}
