package lint

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/berth-dev/berth/internal/pkgcache"
	"github.com/berth-dev/berth/internal/ref"
)

// hit is one place a rule fires; fix overrides the rule's own fix.
type hit struct {
	line, end int
	msg, fix  string
}

// rule is one of berth's checks: an id in BuildKit's style, a default level,
// the words every finding carries, and one small function over the model.
type rule struct {
	ID    string
	Level Level
	Short string // one line: README, SARIF's shortDescription
	Why   string
	Fix   string
	check func(*model) []hit
}

// rules are berth's own, in the order the README lists them. Shell-form
// CMD/ENTRYPOINT (signals not reaching the process) is BuildKit's
// JSONArgsRecommended, and secrets in ENV/ARG names its
// SecretsUsedInArgOrEnv; berth does not repeat them.
var rules = []rule{
	{ID: "BaseImageNotPinned", Level: Warning, check: checkBasePinned,
		Short: "A base image with no tag or :latest.",
		Why:   "latest moves: the same Dockerfile builds a different image tomorrow, and a rebuild can break without a change of yours.",
		Fix:   "name a version tag (node:22-bookworm-slim); for production pin the digest too (node:22@sha256:…)."},
	{ID: "AptNoInstallRecommends", Level: Warning, check: checkAptRecommends,
		Short: "apt-get install without --no-install-recommends in a stage that ships.",
		Why:   "recommended packages are rarely needed at run time and often double the size of what is installed.",
		Fix:   "apt-get install -y --no-install-recommends PACKAGE…"},
	{ID: "AptListsNotRemoved", Level: Warning, check: cacheCheck("AptListsNotRemoved"),
		Short: "apt-get update without removing /var/lib/apt/lists in the same RUN.",
		Why:   "the package lists (tens of MB) stay in the layer; removing them in a later RUN does not shrink the image."},
	{ID: "ApkAddNoCache", Level: Warning, check: cacheCheck("ApkAddNoCache"),
		Short: "apk add without --no-cache.",
		Why:   "the apk index and packages stay in /var/cache/apk, in the layer, for nothing."},
	{ID: "PipNoCacheDir", Level: Warning, check: cacheCheck("PipNoCacheDir"),
		Short: "pip install without --no-cache-dir (or PIP_NO_CACHE_DIR, or a cache mount).",
		Why:   "pip keeps every wheel it downloaded in ~/.cache/pip, which ships in the layer."},
	{ID: "PackageCacheInLayer", Level: Warning, check: cacheCheck("PackageCacheInLayer"),
		Short: "npm, yarn, go, yum or dnf leave their cache in a layer that ships.",
		Why:   "a package manager's cache is only useful while building; in the layer it is wasted bytes every pull pays for (berth dive shows them)."},
	{ID: "ConsecutiveRun", Level: Info, check: checkConsecutiveRun,
		Short: "Consecutive RUN instructions in a stage that ships.",
		Why:   "each RUN is a layer: files one deletes still ship in the one before, and many small layers pull slower.",
		Fix:   "join them with && in one RUN (a heredoc, RUN <<EOF, keeps it readable)."},
	{ID: "CopyAllBeforeInstall", Level: Warning, check: checkCopyAllBeforeInstall,
		Short: "The whole context is copied before the dependency install.",
		Why:   "any change to any file invalidates the cache of the install after it, so every build downloads the dependencies again."},
	{ID: "MissingDockerignore", Level: Warning, check: checkDockerignore,
		Short: "The context holds .git, node_modules or similar and no .dockerignore excludes them.",
		Why:   "they are sent with every build, bust the cache of COPY . and can leak history or secrets into the image.",
		Fix:   "add a .dockerignore listing them (.git, node_modules, .venv, .env …)."},
	{ID: "RootUser", Level: Warning, check: checkRootUser,
		Short: "The final stage runs as root (no USER, or USER root last).",
		Why:   "a process that is root in the container turns any escape or writable mount into root on the host's files.",
		Fix:   "create an unprivileged user and end with USER (RUN useradd -r -u 10001 app … then USER app, or USER 65532 on distroless/scratch)."},
	{ID: "AddInsteadOfCopy", Level: Warning, check: checkAddInsteadOfCopy,
		Short: "ADD of local files that are not archives.",
		Why:   "ADD also fetches URLs and unpacks archives; for plain files COPY says what happens and nothing more.",
		Fix:   "use COPY; keep ADD for URLs (with --checksum), Git sources and archives to unpack."},
	{ID: "SecretValueInArgOrEnv", Level: Error, check: checkSecretValues,
		Short: "An ENV or ARG value that looks like a credential (a cloud key, a token, a private key).",
		Why:   "ENV values are in the image config and ARG values in its history: anyone who can pull the image can read them.",
		Fix:   "pass it at build time with RUN --mount=type=secret (berth build --secret id=…), or at run time; then rotate it."},
	{ID: "Chmod777", Level: Warning, check: checkChmod777,
		Short: "chmod 777 (or --chmod=777).",
		Why:   "world-writable files let any process in the container, whatever its user, change them.",
		Fix:   "give ownership to the user that needs it (COPY --chown, chown) and the narrowest mode (755 for directories, 644 for files)."},
	{ID: "SudoInRun", Level: Warning, check: checkSudo,
		Short: "sudo in RUN.",
		Why:   "RUN already runs as the current USER; sudo adds a setuid binary and a TTY and signal behaviour that surprise.",
		Fix:   "do the privileged steps before USER switches away from root, or use gosu/su-exec at run time."},
	{ID: "ToolchainInFinalStage", Level: Warning, check: checkToolchain,
		Short: "A compiler or build toolchain installed in the only stage.",
		Why:   "compilers and headers ship to production: hundreds of MB, and more packages to patch.",
		Fix:   "build in one stage (FROM golang AS build …) and COPY --from=build only the result into a slim final stage."},
	{ID: "CurlPipeShell", Level: Warning, check: checkCurlPipeShell,
		Short: "curl … | sh (or wget -O- … | bash).",
		Why:   "a script fetched and run in one step is not verified: whatever the server returns that day runs in your build.",
		Fix:   "download to a file, check its sha256 (ADD --checksum=sha256:… URL, or sha256sum -c), then run it."},
	{ID: "HealthcheckMissing", Level: Info, check: checkHealthcheck,
		Short: "A service image (it EXPOSEs a port) without HEALTHCHECK.",
		Why:   "without one, Docker and Compose report the container up while the service inside is hung.",
		Fix:   "add HEALTHCHECK CMD … that probes the service (or HEALTHCHECK NONE to say there is none on purpose)."},
	{ID: "ExposePrivilegedPort", Level: Info, check: checkPrivilegedPort,
		Short: "EXPOSE of a port below 1024.",
		Why:   "only root (or CAP_NET_BIND_SERVICE) can listen there, which pulls the service back to running as root.",
		Fix:   "listen on a port above 1023 (8080) and publish it where you want (-p 80:8080)."},
}

// Rules lists berth's own rule ids with their default levels and one line
// each, for documentation and SARIF.
func Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(rules))
	for _, r := range rules {
		out = append(out, RuleInfo{ID: r.ID, Level: r.Level, Short: r.Short, URL: ruleURL(r.ID)})
	}
	return out
}

// RuleInfo describes a rule.
type RuleInfo struct {
	ID    string
	Level Level
	Short string
	URL   string
}

// DocsURL is where berth's rules are documented, one anchor per rule.
const DocsURL = "https://github.com/berth-dev/berth/blob/main/README.md"

func ruleURL(id string) string { return DocsURL + "#" + strings.ToLower(id) }

func checkBasePinned(m *model) []hit {
	var hits []hit
	for _, s := range m.stages {
		if s.baseStage != nil || !isImage(s.base) {
			continue
		}
		r, err := ref.Parse(s.base)
		if err != nil || strings.Contains(s.base, "@") {
			continue
		}
		if t, ok := r.(interface{ TagStr() string }); ok && t.TagStr() == "latest" {
			what := "has no tag, which means :latest"
			if strings.HasSuffix(s.base, ":latest") {
				what = "uses :latest"
			}
			hits = append(hits, hit{line: s.line, end: s.line, msg: fmt.Sprintf("FROM %s %s: the base image moves under you", s.base, what)})
		}
	}
	return hits
}

func checkRootUser(m *model) []hit {
	s := m.final
	user, line := "", 0
	for _, t := range s.chain() {
		for _, c := range t.cmds {
			if u, ok := c.(*instructions.UserCommand); ok {
				user, line = u.User, dockerfileLine(c)
			}
		}
	}
	if line == 0 {
		root := s.root()
		if c, ok := m.bases.config(root); ok {
			user = c.Config.User
		} else if strings.Contains(root, "nonroot") {
			// distroless's :nonroot and the like: the tag says it.
			return nil
		}
	}
	if strings.Contains(user, "$") {
		return nil
	}
	name, _, _ := strings.Cut(user, ":")
	if name != "" && name != "root" && name != "0" {
		return nil
	}
	if line > 0 {
		return []hit{{line: line, end: line, msg: fmt.Sprintf("the final stage switches to USER %s last, so the container runs as root", user)}}
	}
	return []hit{{line: s.line, end: s.line, msg: "the final stage sets no USER, so the container runs as root"}}
}

func dockerfileLine(c instructions.Command) int {
	l, _ := lineOf(c)
	return l
}

var archiveExt = []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".tar.lz4", ".gz", ".bz2", ".xz"}

func checkAddInsteadOfCopy(m *model) []hit {
	var hits []hit
	for _, s := range m.stages {
		for _, c := range s.cmds {
			a, ok := c.(*instructions.AddCommand)
			if !ok || a.Checksum != "" || a.KeepGitDir != nil || len(a.SourcePaths) == 0 {
				continue
			}
			plain := true
			for _, src := range a.SourcePaths {
				lower := strings.ToLower(src)
				if strings.Contains(lower, "://") || strings.HasPrefix(lower, "git@") || strings.Contains(src, "$") {
					plain = false
				}
				for _, ext := range archiveExt {
					if strings.HasSuffix(lower, ext) {
						plain = false
					}
				}
			}
			if plain {
				l, e := lineOf(c)
				hits = append(hits, hit{line: l, end: e, msg: fmt.Sprintf("ADD %s copies local files: COPY does that and nothing more", strings.Join(a.SourcePaths, " "))})
			}
		}
	}
	return hits
}

// secretValues are patterns of well-known credential formats; names alone
// are BuildKit's SecretsUsedInArgOrEnv.
var secretValues = []struct {
	what string
	re   *regexp.Regexp
}{
	{"an AWS access key id", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"a GitHub token", regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})`)},
	{"a GitLab token", regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}`)},
	{"a Slack token", regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`)},
	{"a Stripe secret key", regexp.MustCompile(`\b[sr]k_live_[0-9a-zA-Z]{20,}`)},
	{"a Google API key", regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`)},
	{"a private key", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY`)},
	{"a password in a URL", regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@$]+:[^/\s@$]+@`)},
}

func secretIn(v string) string {
	for _, p := range secretValues {
		if p.re.MatchString(v) {
			return p.what
		}
	}
	return ""
}

func checkSecretValues(m *model) []hit {
	var hits []hit
	add := func(c instructions.Command, kind, key, v string) {
		if what := secretIn(v); what != "" {
			l, e := lineOf(c)
			hits = append(hits, hit{line: l, end: e, msg: fmt.Sprintf("the value of %s %s looks like %s", kind, key, what)})
		}
	}
	for _, a := range m.file.MetaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				add(&a, "ARG", kv.Key, *kv.Value)
			}
		}
	}
	for _, s := range m.stages {
		for _, c := range s.cmds {
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					add(c, "ENV", kv.Key, kv.Value)
				}
			case *instructions.ArgCommand:
				for _, kv := range c.Args {
					if kv.Value != nil {
						add(c, "ARG", kv.Key, *kv.Value)
					}
				}
			}
		}
	}
	return hits
}

func checkHealthcheck(m *model) []hit {
	var expose instructions.Command
	for _, t := range m.final.chain() {
		for _, c := range t.cmds {
			switch c.(type) {
			case *instructions.HealthCheckCommand:
				return nil
			case *instructions.ExposeCommand:
				if expose == nil {
					expose = c
				}
			}
		}
	}
	if expose == nil {
		return nil
	}
	if c, ok := m.bases.config(m.final.root()); ok && c.Config.Healthcheck != nil {
		return nil
	}
	l, e := lineOf(expose)
	return []hit{{line: l, end: e, msg: "the image EXPOSEs a port, so it runs a service, but has no HEALTHCHECK"}}
}

func checkPrivilegedPort(m *model) []hit {
	var hits []hit
	for _, s := range m.shipped() {
		for _, c := range s.cmds {
			e, ok := c.(*instructions.ExposeCommand)
			if !ok {
				continue
			}
			for _, p := range e.Ports {
				if n, ok := portNumber(p); ok && n > 0 && n < 1024 {
					l, end := lineOf(c)
					hits = append(hits, hit{line: l, end: end, msg: fmt.Sprintf("EXPOSE %s is a privileged port: only root can listen on it", p)})
				}
			}
		}
	}
	return hits
}

// heavyNames are what a context should not send: history, dependencies
// that the build installs itself, local environments and secrets.
var heavyNames = []string{".git", "node_modules", ".venv", "venv", "__pycache__", ".env", ".terraform", ".tox", ".pytest_cache"}

func checkDockerignore(m *model) []hit {
	if m.ctx == nil {
		return nil
	}
	var found []string
	for _, n := range heavyNames {
		if slices.Contains(m.ctx.Names, n) && !m.ctx.Ignore.Excluded(n) {
			found = append(found, n)
		}
	}
	if len(found) == 0 {
		return nil
	}
	line := 0
	for _, s := range m.stages {
		for _, c := range s.cmds {
			if wholeContext(c) && line == 0 {
				line = dockerfileLine(c)
			}
		}
	}
	msg := fmt.Sprintf("the context holds %s and there is no .dockerignore", strings.Join(found, ", "))
	if m.ctx.Ignore != nil {
		msg = fmt.Sprintf("the context holds %s and the .dockerignore does not exclude %s", strings.Join(found, ", "), pronoun(len(found)))
	}
	return []hit{{line: line, end: line, msg: msg, fix: "add them to .dockerignore: " + strings.Join(found, ", ")}}
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// wholeContext reports whether a COPY or ADD copies the context's root.
func wholeContext(c instructions.Command) bool {
	var srcs []string
	switch c := c.(type) {
	case *instructions.CopyCommand:
		if c.From != "" {
			return false
		}
		srcs = c.SourcePaths
	case *instructions.AddCommand:
		srcs = c.SourcePaths
	default:
		return false
	}
	for _, s := range srcs {
		switch strings.TrimSuffix(s, "/") {
		case ".", "", "*", "./*", "/":
			return true
		}
	}
	return false
}

// Tool images are named by repository ("golang", "library/golang").
func isToolImage(base string) bool {
	r, err := ref.Parse(base)
	if err != nil {
		return false
	}
	return slices.Contains(pkgcache.ToolImages, ref.FamiliarRepository(r))
}
