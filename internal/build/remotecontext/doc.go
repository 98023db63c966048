// Package remotecontext fetches the remote build contexts docker build
// accepts in place of a directory: a Git repository (URL#ref:subdir) and an
// http(s) URL of a tar archive or of a bare Dockerfile.
//
// Git work is done by the git program, as Docker's classic builder does:
// it knows every transport, credential helper and proxy setting the user
// already configured, which no Go reimplementation would.
//
// It imports only fsutil of berth's packages (the build package and the CLI
// use it), and follows Docker's rules for what a Git URL is
// (docker/cli's urlutil) and BuildKit's for the #ref:subdir fragment.
package remotecontext
