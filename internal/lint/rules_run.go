package lint

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/berth-dev/berth/internal/pkgcache"
)

// The rules that read RUN scripts.

// eachRun calls fn for every RUN of the given stages with its parsed
// commands.
func eachRun(stages []*stage, fn func(s *stage, r *instructions.RunCommand, script string, cmds []command)) {
	for _, s := range stages {
		for _, c := range s.cmds {
			if r, ok := c.(*instructions.RunCommand); ok {
				script := runText(r)
				fn(s, r, script, commands(script))
			}
		}
	}
}

func runHit(r *instructions.RunCommand, msg string) hit {
	l, e := lineOf(r)
	return hit{line: l, end: e, msg: msg}
}

// installs reports whether cmd installs packages with a system package
// manager, and where its package arguments start.
func installs(cmd command) (string, int, bool) {
	for _, p := range [][]string{{"apt-get", "install"}, {"apt", "install"}, {"apk", "add"}, {"yum", "install"}, {"dnf", "install"}, {"microdnf", "install"}} {
		if i, ok := cmd.runs(p); ok {
			return p[0], i, true
		}
	}
	return "", 0, false
}

func checkAptRecommends(m *model) []hit {
	var hits []hit
	eachRun(m.shipped(), func(s *stage, r *instructions.RunCommand, script string, cmds []command) {
		if strings.Contains(script, "--no-install-recommends") || strings.Contains(script, "Install-Recommends") {
			return
		}
		for _, c := range cmds {
			if tool, _, ok := installs(c); ok && (tool == "apt-get" || tool == "apt") {
				hits = append(hits, runHit(r, tool+" install without --no-install-recommends installs the recommended packages too"))
				return
			}
		}
	})
	return hits
}

// cacheCheck is the check of one rule over pkgcache's table: a RUN in a
// stage that ships runs a command that fills a cache, and nothing in the
// same RUN (a flag, a clean, an rm, a cache mount, the stage's ENV) keeps it
// out of the layer.
func cacheCheck(id string) func(*model) []hit {
	return func(m *model) []hit {
		var hits []hit
		for _, s := range m.shipped() {
			env := s.env()
			eachRun([]*stage{s}, func(s *stage, r *instructions.RunCommand, script string, cmds []command) {
				for _, c := range pkgcache.Caches {
					if c.Rule != id || kept(c, r, script, env) {
						continue
					}
					if fill := fills(c, cmds); fill != "" {
						h := runHit(r, fmt.Sprintf("`%s` leaves %s in %s in this layer", fill, c.What, c.Dir))
						h.fix = c.Fix
						hits = append(hits, h)
					}
				}
			})
		}
		return hits
	}
}

func fills(c pkgcache.Cache, cmds []command) string {
	for _, cmd := range cmds {
		for _, p := range c.Fills {
			if _, ok := cmd.runs(p); ok {
				if strings.HasPrefix(p[0], "-") {
					// "-m pip install": the interpreter's name as run.
					n, _ := cmd.name()
					return n + " " + strings.Join(p, " ")
				}
				return strings.Join(p, " ")
			}
		}
	}
	return ""
}

func kept(c pkgcache.Cache, r *instructions.RunCommand, script string, env map[string]string) bool {
	if cacheMounted(r, c.Dir) {
		return true
	}
	for _, k := range c.Keeps {
		if strings.Contains(script, k) {
			return true
		}
	}
	if c.Env != "" {
		if strings.Contains(script, c.Env+"=") {
			return true
		}
		if v, ok := env[c.Env]; ok {
			switch strings.ToLower(v) {
			case "0", "false", "no", "off":
			default:
				return true
			}
		}
	}
	return false
}

func checkConsecutiveRun(m *model) []hit {
	var hits []hit
	for _, s := range m.shipped() {
		var run []instructions.Command
		flush := func() {
			if len(run) > 1 {
				l, _ := lineOf(run[0])
				_, e := lineOf(run[len(run)-1])
				hits = append(hits, hit{line: l, end: e, msg: fmt.Sprintf("%d consecutive RUN instructions make %d layers", len(run), len(run))})
			}
			run = nil
		}
		for _, c := range s.cmds {
			if _, ok := c.(*instructions.RunCommand); ok {
				run = append(run, c)
				continue
			}
			flush()
		}
		flush()
	}
	return hits
}

// depInstall is a dependency install that a manifest keys: copied alone
// first, its layer stays cached until the manifest changes.
type depInstall struct {
	cmd       []string
	manifests string
	bare      bool // the install takes no package arguments (npm install, not npm install -g pm2)
}

var depInstalls = []depInstall{
	{[]string{"npm", "ci"}, "package.json package-lock.json", false},
	{[]string{"npm", "install"}, "package.json package-lock.json", true},
	{[]string{"npm", "i"}, "package.json package-lock.json", true},
	{[]string{"yarn", "install"}, "package.json yarn.lock", false},
	{[]string{"pnpm", "install"}, "package.json pnpm-lock.yaml", false},
	{[]string{"pip", "install", "-r"}, "requirements.txt", false},
	{[]string{"-m", "pip", "install", "-r"}, "requirements.txt", false},
	{[]string{"poetry", "install"}, "pyproject.toml poetry.lock", false},
	{[]string{"pipenv", "install"}, "Pipfile Pipfile.lock", false},
	{[]string{"go", "mod", "download"}, "go.mod go.sum", false},
	{[]string{"bundle", "install"}, "Gemfile Gemfile.lock", false},
	{[]string{"composer", "install"}, "composer.json composer.lock", false},
	{[]string{"cargo", "fetch"}, "Cargo.toml Cargo.lock", false},
}

// depInstallIn finds a dependency install among a RUN's commands.
func depInstallIn(cmds []command) (depInstall, bool) {
	for _, c := range cmds {
		for _, d := range depInstalls {
			// "-r" is a flag; match it as a word after install.
			pat := d.cmd
			if pat[len(pat)-1] == "-r" {
				pat = pat[:len(pat)-1]
			}
			i, ok := c.runs(pat)
			if !ok {
				continue
			}
			if d.cmd[len(d.cmd)-1] == "-r" && !slices.ContainsFunc(c.words[i:], func(w string) bool { return w == "-r" || strings.HasPrefix(w, "--requirement") }) {
				continue
			}
			if d.bare && len(c.args(i)) > 0 {
				continue
			}
			return d, true
		}
	}
	return depInstall{}, false
}

func checkCopyAllBeforeInstall(m *model) []hit {
	var hits []hit
	for _, s := range m.stages {
		copied := 0
		for _, c := range s.cmds {
			if wholeContext(c) && copied == 0 {
				copied = dockerfileLine(c)
			}
			r, ok := c.(*instructions.RunCommand)
			if !ok || copied == 0 {
				continue
			}
			if d, ok := depInstallIn(commands(runText(r))); ok {
				h := runHit(r, fmt.Sprintf("`%s` runs after the whole context is copied (line %d): any change to any file runs it again", strings.Join(d.cmd, " "), copied))
				h.fix = fmt.Sprintf("COPY %s ./ first, RUN the install, then COPY . .", d.manifests)
				hits = append(hits, h)
			}
		}
	}
	return hits
}

var mode777 = regexp.MustCompile(`^(0?777|[ugoa]*a[ugoa]*[+=]rwx|ugo[+=]rwx|o[+=]rwx)$`)

func checkChmod777(m *model) []hit {
	var hits []hit
	eachRun(m.stages, func(s *stage, r *instructions.RunCommand, script string, cmds []command) {
		for _, c := range cmds {
			if n, i := c.name(); n == "chmod" && slices.ContainsFunc(c.words[i+1:], mode777.MatchString) {
				hits = append(hits, runHit(r, "chmod makes files world-writable"))
				return
			}
		}
	})
	for _, s := range m.stages {
		for _, c := range s.cmds {
			mode := ""
			switch c := c.(type) {
			case *instructions.CopyCommand:
				mode = c.Chmod
			case *instructions.AddCommand:
				mode = c.Chmod
			}
			if mode != "" && mode777.MatchString(mode) {
				l, e := lineOf(c)
				hits = append(hits, hit{line: l, end: e, msg: fmt.Sprintf("--chmod=%s makes the copied files world-writable", mode)})
			}
		}
	}
	return hits
}

func checkSudo(m *model) []hit {
	var hits []hit
	eachRun(m.stages, func(s *stage, r *instructions.RunCommand, script string, cmds []command) {
		for _, c := range cmds {
			for _, w := range c.words {
				if isAssign(w) {
					continue
				}
				if w == "sudo" {
					hits = append(hits, runHit(r, "RUN calls sudo"))
					return
				}
				break
			}
		}
	})
	return hits
}

func checkToolchain(m *model) []hit {
	if len(m.stages) != 1 {
		return nil
	}
	s := m.stages[0]
	var hits []hit
	if s.baseStage == nil && isImage(s.base) && isToolImage(s.base) {
		hits = append(hits, hit{line: s.line, end: s.line, msg: fmt.Sprintf("the only stage is FROM %s, a toolchain image, so the compiler ships in the image", s.base)})
	}
	eachRun(m.stages, func(s *stage, r *instructions.RunCommand, script string, cmds []command) {
		var tools []string
		for _, c := range cmds {
			if _, i, ok := installs(c); ok {
				for _, a := range c.args(i) {
					name, _, _ := strings.Cut(a, "=")
					name, _, _ = strings.Cut(name, "~")
					if slices.Contains(pkgcache.ToolPackages, name) && !slices.Contains(tools, name) {
						tools = append(tools, name)
					}
				}
			}
		}
		if len(tools) > 0 {
			hits = append(hits, runHit(r, fmt.Sprintf("the only stage installs %s, so the toolchain ships in the image", strings.Join(tools, ", "))))
		}
	})
	return hits
}

var shells = []string{"sh", "bash", "zsh", "ash", "dash", "ksh"}

func checkCurlPipeShell(m *model) []hit {
	var hits []hit
	eachRun(m.stages, func(s *stage, r *instructions.RunCommand, script string, cmds []command) {
		fetched := ""
		for _, c := range cmds {
			n, _ := c.name()
			if !c.piped {
				fetched = ""
			}
			if n == "curl" || n == "wget" {
				fetched = n
				continue
			}
			if c.piped && fetched != "" && slices.Contains(shells, n) {
				hits = append(hits, runHit(r, fmt.Sprintf("%s pipes a downloaded script straight into %s", fetched, n)))
				return
			}
		}
	})
	return hits
}
