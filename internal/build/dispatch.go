package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dispatch applies one instruction to the stage.
func (b *Builder) dispatch(ctx context.Context, st *stageState, id string, c instructions.Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lex := st.lex
	env := st.env()
	if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(func(w string) (string, error) {
			s, _, err := lex.ProcessWord(w, env)
			return s, err
		}); err != nil {
			return err
		}
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := ex.ExpandRaw(func(w string) (string, error) {
			s, _, err := lex.ProcessWord(w, env)
			return s, err
		}); err != nil {
			return err
		}
	}
	cfg := &st.cfg.Config
	switch c := c.(type) {
	case *instructions.EnvCommand:
		msg := "ENV"
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
			msg += " " + kv.String()
		}
		return b.meta(st, id, msg)
	case *instructions.LabelCommand:
		msg := "LABEL"
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
			msg += " " + kv.String()
		}
		return b.meta(st, id, msg)
	case *instructions.MaintainerCommand:
		st.cfg.Author = c.Maintainer
		return b.meta(st, id, "MAINTAINER "+c.Maintainer)
	case *instructions.UserCommand:
		cfg.User = c.User
		return b.meta(st, id, "USER "+c.User)
	case *instructions.CmdCommand:
		args := c.CmdLine
		if c.PrependShell {
			args = append(st.shell(), strings.Join(args, " "))
		}
		cfg.Cmd = args
		cfg.ArgsEscaped = true
		return b.meta(st, id, fmt.Sprintf("CMD %q", args))
	case *instructions.EntrypointCommand:
		args := c.CmdLine
		if c.PrependShell {
			args = append(st.shell(), strings.Join(args, " "))
		}
		cfg.Entrypoint = args
		if !b.stageHasCmdBefore(st, c) {
			cfg.Cmd = nil
		}
		return b.meta(st, id, fmt.Sprintf("ENTRYPOINT %q", args))
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &healthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		return b.meta(st, id, fmt.Sprintf("HEALTHCHECK %+v", *h))
	case *instructions.ExposeCommand:
		var ports []string
		for _, p := range c.Ports {
			w, _, err := lex.ProcessWord(p, env)
			if err != nil {
				return err
			}
			ps, err := parsePorts(w)
			if err != nil {
				return err
			}
			ports = append(ports, ps...)
		}
		sort.Strings(ports)
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
		return b.meta(st, id, fmt.Sprintf("EXPOSE %v", ports))
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
		return b.meta(st, id, fmt.Sprintf("VOLUME %v", c.Volumes))
	case *instructions.StopSignalCommand:
		if !validSignal(c.Signal) {
			return fmt.Errorf("invalid signal: %s", c.Signal)
		}
		cfg.StopSignal = c.Signal
		return b.meta(st, id, "STOPSIGNAL "+c.Signal)
	case *instructions.ShellCommand:
		cfg.Shell = c.Shell
		return b.meta(st, id, fmt.Sprintf("SHELL %v", c.Shell))
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		return b.metaNoHistory(st, id, "ONBUILD "+c.Expression)
	case *instructions.ArgCommand:
		return b.arg(st, id, c)
	case *instructions.WorkdirCommand:
		return b.workdir(ctx, st, id, c)
	case *instructions.RunCommand:
		return b.run(ctx, st, id, c)
	case *instructions.CopyCommand:
		return b.copyStep(ctx, st, id, copyArgs{cmd: c, sd: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod, link: c.Link, parents: c.Parents, exclude: c.ExcludePatterns, src: c.String()})
	case *instructions.AddCommand:
		return b.copyStep(ctx, st, id, copyArgs{cmd: c, add: true, sd: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, link: c.Link, exclude: c.ExcludePatterns, checksum: c.Checksum, unpack: c.Unpack, keepGit: c.KeepGitDir != nil && *c.KeepGitDir, src: c.String()})
	}
	return fmt.Errorf("unsupported instruction %T", c)
}

// stageHasCmdBefore: ENTRYPOINT resets a CMD inherited from the base image,
// not one set earlier in the same stage.
func (b *Builder) stageHasCmdBefore(st *stageState, until instructions.Command) bool {
	for _, c := range st.sp.Commands {
		if c == until {
			return false
		}
		if _, ok := c.(*instructions.CmdCommand); ok {
			return true
		}
	}
	return false
}

func (st *stageState) shell() []string {
	if len(st.cfg.Config.Shell) > 0 {
		return append([]string(nil), st.cfg.Config.Shell...)
	}
	return []string{"/bin/sh", "-c"}
}

// meta records a config-only step: a history entry without layer, and the
// instruction in the cache key chain.
func (b *Builder) meta(st *stageState, id, createdBy string) error {
	b.history(st, createdBy, true, st.stamp(b.now))
	return b.metaNoHistory(st, id, createdBy)
}

func (b *Builder) metaNoHistory(st *stageState, id, text string) error {
	if _, changed := b.compare(id, &stepRecord{Text: text}); changed {
		st.changedBy = text
	}
	st.key = chainKey(st.key, text)
	return nil
}

func (b *Builder) arg(st *stageState, id string, c *instructions.ArgCommand) error {
	var parts []string
	for _, a := range c.Args {
		if v, ok := b.opts.BuildArgs[a.Key]; ok {
			a.Value = &v
		} else if a.Value == nil {
			if v, ok := b.plan.Global[a.Key]; ok {
				a.Value = &v
			}
		}
		replaced := false
		for i := range st.args {
			if st.args[i].Key == a.Key {
				st.args[i], replaced = a, true
			}
		}
		if !replaced {
			st.args = append(st.args, a)
		}
		s := a.Key
		if a.Value != nil {
			s += "=" + *a.Value
		}
		parts = append(parts, s)
	}
	text := "ARG " + strings.Join(parts, " ")
	b.history(st, text, true, st.stamp(b.now))
	rec := &stepRecord{Text: "ARG", Args: map[string]string{}}
	for _, a := range c.Args {
		rec.Text += " " + a.Key
		rec.Args[a.Key] = a.ValueString()
	}
	for _, a := range st.args {
		rec.Args[a.Key] = a.ValueString()
	}
	if reason, changed := b.compare(id, rec); changed {
		st.changedBy = text
		if strings.HasPrefix(reason, "build arg") {
			st.changedBy = reason
		}
	}
	st.key = chainKey(st.key, text)
	return nil
}

// layerStep runs a step that may produce a layer, through the cache.
func (b *Builder) layerStep(ctx context.Context, st *stageState, id, text, createdBy string, rec *stepRecord, keyParts []string,
	do func(ctx context.Context, v *vertex) (*Layer, error)) error {
	return b.layerStepLinked(ctx, st, id, text, createdBy, rec, keyParts, false, do)
}

// layerStepLinked is layerStep; with linked (COPY --link) the layer does
// not depend on the steps before it, so its cache key leaves them out and
// it is reused whatever changed earlier. The chain key still moves on.
func (b *Builder) layerStepLinked(ctx context.Context, st *stageState, id, text, createdBy string, rec *stepRecord, keyParts []string, linked bool,
	do func(ctx context.Context, v *vertex) (*Layer, error)) error {
	title := b.title(st, text, true)
	parent := st.key
	if linked {
		parent = "link"
	}
	key := chainKey(append([]string{parent, createdBy}, keyParts...)...)
	next := key
	if linked {
		next = chainKey(st.key, key)
	}
	rec.Key = key
	prevChanged := st.changedBy
	reason, changed := b.compare(id, rec)
	if changed {
		st.changedBy = text
	}
	v := b.prog.vertex(title)
	noCache := b.opts.NoCache || b.opts.NoCacheStages[st.sp.Name]
	e, ok := b.lookupCache(key)
	if !ok && !noCache {
		e, ok = b.lookupCacheFrom(key)
	}
	if ok && !noCache {
		v.cached()
		st.key = next
		st.steps = append(st.steps, cacheStep{Key: key, Entry: *e})
		b.addLayer(st, e.Layer, createdBy, e.Created)
		return nil
	}
	switch {
	case noCache:
	case changed:
		v.printf("cache miss: %s: %s", text, reason)
	case prevChanged != "" && !linked:
		v.printf("cache miss: %s: earlier step changed: %s", text, prevChanged)
	}
	l, err := do(ctx, v)
	if err != nil {
		v.fail(err)
		return err
	}
	v.done()
	created := b.now
	if err := b.storeCache(key, &cacheEntry{Layer: l, Created: created}); err != nil {
		b.opts.Log.Debug("storing cache entry", "err", err)
	}
	st.key = next
	st.steps = append(st.steps, cacheStep{Key: key, Entry: cacheEntry{Layer: l, Created: created}})
	b.addLayer(st, l, createdBy, created)
	return nil
}

func (b *Builder) workdir(ctx context.Context, st *stageState, id string, c *instructions.WorkdirCommand) error {
	wd := c.Path
	if !path.IsAbs(wd) {
		base := st.cfg.Config.WorkingDir
		if base == "" {
			base = "/"
		}
		wd = path.Join(base, wd)
	}
	wd = path.Clean(wd)
	st.cfg.Config.WorkingDir = wd
	if wd == "/" {
		st.k++
		return b.meta(st, id, "WORKDIR /")
	}
	text := "WORKDIR " + wd
	user := st.cfg.Config.User
	return b.layerStep(ctx, st, id, text, text, &stepRecord{Text: text + " " + user}, []string{user}, func(ctx context.Context, v *vertex) (*Layer, error) {
		tree, err := b.stageTree(ctx, st)
		if err != nil {
			return nil, err
		}
		uid, gid := 0, 0
		if user != "" {
			if uid, gid, err = resolveOwner(tree, user); err != nil {
				return nil, err
			}
		}
		lw, err := b.newLayerWriter(ctx)
		if err != nil {
			return nil, err
		}
		if err := b.mkdirAll(lw, tree, tree.resolve(wd), uid, gid, true); err != nil {
			lw.Abort(err)
			return nil, err
		}
		l, ok, err := lw.Close()
		if err != nil || !ok {
			return nil, err
		}
		return &l, nil
	})
}

// mkdirAll writes directory entries for rel and its parents: the existing
// metadata for directories the tree has (they are in the diff because a
// child changes), new 0755 directories otherwise. With onlyNew, existing
// directories are not written.
func (b *Builder) mkdirAll(lw *layerWriter, tree *fsTree, rel string, uid, gid int, onlyNew bool) error {
	if rel == "" || rel == "." {
		return nil
	}
	parts := strings.Split(rel, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		if h, ok := tree.m[p]; ok && h.Typeflag == tar.TypeDir {
			if onlyNew {
				continue
			}
			hh := *h
			hh.Name = p + "/"
			if err := lw.WriteHeader(&hh); err != nil {
				return err
			}
			continue
		} else if ok {
			return fmt.Errorf("cannot create directory /%s: a file is in the way", p)
		}
		h := &tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: b.now}
		if err := lw.WriteHeader(h); err != nil {
			return err
		}
		tree.m[p] = h
	}
	return nil
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// parsePorts turns an EXPOSE word into "port/proto" specs (ranges expanded).
func parsePorts(w string) ([]string, error) {
	port, proto, _ := strings.Cut(w, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	lo, hi, isRange := strings.Cut(port, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 0 || a > 65535 {
		return nil, fmt.Errorf("invalid containerPort: %s", port)
	}
	if !isRange {
		return []string{fmt.Sprintf("%d/%s", a, proto)}, nil
	}
	z, err := strconv.Atoi(hi)
	if err != nil || z < a || z > 65535 {
		return nil, fmt.Errorf("invalid containerPort: %s", port)
	}
	var out []string
	for p := a; p <= z; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

var signals = map[string]bool{"SIGABRT": true, "SIGALRM": true, "SIGBUS": true, "SIGCHLD": true, "SIGCONT": true, "SIGFPE": true, "SIGHUP": true, "SIGILL": true, "SIGINT": true, "SIGIO": true, "SIGKILL": true, "SIGPIPE": true, "SIGPROF": true, "SIGPWR": true, "SIGQUIT": true, "SIGSEGV": true, "SIGSTKFLT": true, "SIGSTOP": true, "SIGSYS": true, "SIGTERM": true, "SIGTRAP": true, "SIGTSTP": true, "SIGTTIN": true, "SIGTTOU": true, "SIGURG": true, "SIGUSR1": true, "SIGUSR2": true, "SIGVTALRM": true, "SIGWINCH": true, "SIGXCPU": true, "SIGXFSZ": true}

func validSignal(s string) bool {
	if n, err := strconv.Atoi(s); err == nil {
		return n > 0 && n < 65
	}
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	return signals[u] || strings.HasPrefix(u, "SIGRTM")
}

// resolveOwner resolves "user[:group]" (names or IDs) against the image's
// /etc/passwd and /etc/group.
func resolveOwner(tree *fsTree, spec string) (int, int, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, gid := -1, -1
	if n, err := strconv.Atoi(user); err == nil {
		uid = n
	} else {
		for _, line := range strings.Split(string(tree.passwd), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 4 && f[0] == user {
				uid, _ = strconv.Atoi(f[2])
				gid, _ = strconv.Atoi(f[3])
			}
		}
		if uid < 0 {
			return 0, 0, fmt.Errorf("unable to find user %s: no matching entries in passwd file", user)
		}
	}
	if !hasGroup {
		if gid < 0 {
			gid = uid
			if n, err := strconv.Atoi(user); err == nil {
				gid = n
			}
		}
		return uid, gid, nil
	}
	if n, err := strconv.Atoi(group); err == nil {
		return uid, n, nil
	}
	for _, line := range strings.Split(string(tree.group), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == group {
			g, _ := strconv.Atoi(f[2])
			return uid, g, nil
		}
	}
	return 0, 0, fmt.Errorf("unable to find group %s: no matching entries in group file", group)
}

// run executes a RUN step through the Executor.
func (b *Builder) run(ctx context.Context, st *stageState, id string, c *instructions.RunCommand) error {
	if b.opts.Exec == nil {
		return errors.New("RUN is not available: no sandbox")
	}
	args := c.CmdLine
	var script *instructions.ShellInlineFile
	if c.PrependShell {
		if f := shebangHeredoc(c); f != nil {
			// "RUN <<EOF" whose text starts with "#!": BuildKit runs it as
			// an executable file at /dev/pipes/<name>, through the shell.
			script = f
			args = append(st.shell(), "/dev/pipes/"+f.Name)
		} else {
			args = append(st.shell(), runScript(c))
		}
	} else if len(c.Files) > 0 {
		return errors.New("heredocs need the shell form of RUN")
	}
	var argStrs []string
	argVals := map[string]string{}
	env := st.env()
	for _, a := range st.args {
		v, ok := env.Get(a.Key)
		if !ok {
			v = a.ValueString()
		}
		argVals[a.Key] = v
		argStrs = append(argStrs, a.Key+"="+v)
	}
	cmdStr := strings.Join(args, " ")
	if len(argStrs) > 0 {
		cmdStr = strings.Join(append([]string{fmt.Sprintf("|%d", len(argStrs))}, append(argStrs, args...)...), " ")
	}
	createdBy := "RUN " + cmdStr + " # buildkit"
	// RUN --network wins; without it (BuildKit reports "default") the
	// build's --network applies.
	network := instructions.GetNetwork(c)
	if network == "" || network == instructions.NetworkDefault {
		network = b.opts.Network
	}
	mounts := instructions.GetMounts(c)
	text := "RUN " + strings.Join(c.CmdLine, " ")
	rec := &stepRecord{Text: text + flagsText(c), Args: argVals}
	keyParts := []string{c.String(), network, strings.Join(st.runEnv(nil), "\x00"), st.cfg.Config.WorkingDir, st.cfg.Config.User}
	if len(b.opts.ExtraHosts) > 0 { // as BuildKit, the hosts a step sees are part of it
		keyParts = append(keyParts, "hosts:"+strings.Join(b.opts.ExtraHosts, "\n"))
	}
	// What a bind mount shows the command is an input like its text: the
	// files it binds from the context (a changed go.mod re-runs
	// "RUN --mount=type=bind,source=go.mod ... go mod download"), or the
	// layers of the stage or image it binds from.
	for _, m := range mounts {
		if m.Type != instructions.MountTypeBind {
			continue
		}
		src := strings.TrimPrefix(path.Clean("/"+m.Source), "/")
		if src == "" {
			src = "."
		}
		cfs, fromDir := b.namedDir(m.From, st.sp.Index)
		if m.From == "" {
			cfs, fromDir = b.ctxfs, b.opts.ContextDir != ""
		}
		if fromDir {
			if rec.Files == nil {
				rec.Files = map[string]string{}
			}
			// The key hashes what the mount will show: the source as
			// resolved inside the context, links followed.
			rel, _, err := cfs.bindSource(src)
			if err != nil {
				return fmt.Errorf("RUN --mount=type=bind,source=%s: %w", m.Source, err)
			}
			files := map[string]string{}
			if err := hashSources(ctx, cfs, rel, nil, files); err != nil {
				return fmt.Errorf("RUN --mount=type=bind,source=%s: %w", m.Source, err)
			}
			for k, v := range files {
				rec.Files[k] = v
			}
			keyParts = append(keyParts, "bind:"+m.From+":"+src+":"+filesKey(files))
			continue
		}
		if m.From == "" {
			continue // no context: runMounts says so
		}
		layers, err := b.fromLayers(ctx, m.From, st.sp.Index)
		if err != nil {
			return err
		}
		k, err := b.fromKey(ctx, m.From, st.sp.Index, layers, []string{src}, nil)
		if err != nil {
			return fmt.Errorf("RUN --mount=type=bind,from=%s,source=%s: %w", m.From, m.Source, err)
		}
		keyParts = append(keyParts, "bind:"+m.From+":"+src+":"+k)
	}
	return b.layerStep(ctx, st, id, stepText(c), createdBy, rec, keyParts, func(ctx context.Context, v *vertex) (*Layer, error) {
		rms, cleanup, err := b.runMounts(ctx, st, mounts)
		defer cleanup()
		if err != nil {
			return nil, err
		}
		if script != nil {
			f, err := os.CreateTemp(b.tempDir(), "heredoc-")
			if err != nil {
				return nil, err
			}
			defer os.Remove(f.Name())
			_, werr := f.WriteString(script.Data)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return nil, werr
			}
			if err := os.Chmod(f.Name(), 0o755); err != nil {
				return nil, err
			}
			rms = append(rms, RunMount{Type: "bind", Source: f.Name(), Target: "/dev/pipes/" + script.Name, ReadOnly: true})
		}
		var layers = make([]v1Layer, 0, len(st.layers))
		for _, l := range st.layers {
			layers = append(layers, b.v1Layer(l))
		}
		env := st.runEnv(b.opts.BuildArgs)
		if sock := sshAuthSock(mounts, rms); sock != "" && !hasEnv(env, "SSH_AUTH_SOCK") {
			env = append(env, "SSH_AUTH_SOCK="+sock)
		}
		req := RunRequest{
			Layers: layers, Args: args, Env: env, Dir: st.cfg.Config.WorkingDir,
			User: st.cfg.Config.User, Network: network, Hosts: b.opts.ExtraHosts, Mounts: rms, Output: v,
			TempDir: b.tempDir(),
		}
		// Stages run concurrently, but at most one RUN per CPU at a time.
		select {
		case b.runSlots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-b.runSlots }()
		return b.execRun(ctx, st, req)
	})
}

func flagsText(c *instructions.RunCommand) string {
	s := c.String()
	var flags []string
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "--") {
			flags = append(flags, f)
		}
	}
	sort.Strings(flags)
	if len(flags) == 0 {
		return ""
	}
	return " [" + strings.Join(flags, " ") + "]"
}

// shebangHeredoc returns the heredoc of "RUN <<EOF" when it is the whole
// command and starts with "#!".
func shebangHeredoc(c *instructions.RunCommand) *instructions.ShellInlineFile {
	if len(c.Files) != 1 {
		return nil
	}
	h, err := parser.ParseHeredoc(strings.Join(c.CmdLine, " "))
	if err != nil || h == nil || h.Name != c.Files[0].Name {
		return nil
	}
	f := c.Files[0]
	f.Data = heredocData(f)
	if !strings.HasPrefix(f.Data, "#!") {
		return nil
	}
	return &f
}

// heredocData is a heredoc's text, leading tabs removed for "<<-".
func heredocData(f instructions.ShellInlineFile) string {
	if f.Chomp {
		return parser.ChompHeredocContent(f.Data)
	}
	return f.Data
}

// runScript is the shell script of a shell-form RUN, heredocs included.
func runScript(c *instructions.RunCommand) string {
	cmd := strings.Join(c.CmdLine, " ")
	if len(c.Files) == 0 {
		return cmd
	}
	if len(c.Files) == 1 {
		if h, err := parser.ParseHeredoc(cmd); err == nil && h != nil && h.Name == c.Files[0].Name {
			// "RUN <<EOF ... EOF": the heredoc is the script.
			return heredocData(c.Files[0])
		}
	}
	// Hand the heredocs to the shell as written (as BuildKit rebuilds them).
	var sb strings.Builder
	sb.WriteString(cmd)
	for _, f := range c.Files {
		sb.WriteString("\n" + f.Data + f.Name)
	}
	return sb.String()
}

func orRoot(s string) string {
	if s == "" {
		return "/"
	}
	return s
}

func (b *Builder) tempDir() string { return b.opts.TempDir }

var _ = time.Second

// stamp is the time of a config-only step: the newest layer's, else now.
func (st *stageState) stamp(now time.Time) time.Time {
	if st.created.IsZero() {
		return now
	}
	return st.created
}
