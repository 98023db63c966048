// Package lint checks a Dockerfile against the practices of good images and
// returns its findings as plain data (rule id, level, lines, what is wrong,
// why it matters, how to fix it, a documentation URL). It owns no terminal
// code: internal/cli renders the findings as text, JSON or SARIF 2.1.0.
//
// Two sets of rules run. BuildKit's build checks run through BuildKit's own
// Dockerfile front end (frontend/dockerfile/dockerfile2llb, with the rules of
// frontend/dockerfile/linter), so their ids, messages and the
// `# check=skip=…` / `# check=error=true` directives behave exactly as in
// `docker build --check`; base images are resolved only through the caller's
// BaseImage function (berth's local store), never the network. berth's own
// rules (rules.go, one small function each) see what that linter does not:
// unpinned bases, package-manager caches left in layers (from the shared
// table of internal/pkgcache that `berth dive`'s hints also read), root final
// stages, secrets in values, curl | sh, and more. The same directives and a
// config file (.berth-lint.yaml, ParseConfig) switch them off or re-level
// them.
//
// It does no I/O of its own: the caller hands it the Dockerfile's bytes, a
// view of the context's top level and its .dockerignore. It must not import
// internal/cli, internal/store or internal/remote.
package lint
