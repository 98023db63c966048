package ref

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ErrInvalid is returned for a name Docker would refuse; its text is Docker's.
var ErrInvalid = errors.New("invalid reference format")

// DefaultRegistry is how Docker Hub is spelled in full names.
const DefaultRegistry = "docker.io"

// Parse parses s with Docker's rules: "busybox" is
// docker.io/library/busybox:latest. Upper-case repository names are refused,
// as Docker does.
func Parse(s string) (name.Reference, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return nil, ErrInvalid
	}
	if err := checkLowercase(s); err != nil {
		return nil, err
	}
	r, err := name.ParseReference(s, name.StrictValidation)
	if err != nil {
		// StrictValidation refuses implicit defaults; retry with them but keep
		// the strict checks on characters.
		r, err = name.ParseReference(s)
		if err != nil {
			return nil, ErrInvalid
		}
	}
	repo := r.Context().RepositoryStr()
	if repo != strings.ToLower(repo) {
		return nil, fmt.Errorf("%w: repository name (%s) must be lowercase", ErrInvalid, repo)
	}
	if !pathGrammar.MatchString(repo) {
		return nil, ErrInvalid
	}
	return r, nil
}

// checkLowercase refuses an upper-case repository path the way Docker's
// reference parser does, naming the path as Docker normalizes it
// ("Bad:Name" -> library/Bad), so the user sees which part is wrong. It
// splits the domain with Docker's rule: a first component is a registry only
// when it has a dot or colon, is localhost, or has upper-case letters.
func checkLowercase(s string) error {
	domain, remote := DefaultRegistry, s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if first := s[:i]; strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, remote = first, s[i+1:]
		}
	}
	if (domain == DefaultRegistry || domain == "index.docker.io") && !strings.Contains(remote, "/") {
		remote = "library/" + remote
	}
	if i := strings.IndexAny(remote, ":@"); i >= 0 {
		remote = remote[:i]
	}
	if remote != strings.ToLower(remote) {
		return fmt.Errorf("%w: repository name (%s) must be lowercase", ErrInvalid, remote)
	}
	return nil
}

// pathGrammar is the distribution reference grammar for the path part of a
// name; go-containerregistry is looser (it accepts "-x").
var pathGrammar = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$`)

// ParseTag parses s and requires a tag (default latest), not a digest.
func ParseTag(s string) (name.Tag, error) {
	r, err := Parse(s)
	if err != nil {
		return name.Tag{}, err
	}
	t, ok := r.(name.Tag)
	if !ok {
		return name.Tag{}, ErrInvalid
	}
	return t, nil
}

// Registry returns the registry host as Docker spells it (docker.io for Hub).
func Registry(r name.Reference) string {
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		return DefaultRegistry
	}
	return reg
}

// Repository returns the full repository name, e.g. docker.io/library/busybox.
func Repository(r name.Reference) string {
	return Registry(r) + "/" + r.Context().RepositoryStr()
}

// FamiliarRepository returns the repository as Docker shows it: "busybox",
// "user/app", "localhost:5000/app".
func FamiliarRepository(r name.Reference) string {
	reg := Registry(r)
	repo := r.Context().RepositoryStr()
	if reg == DefaultRegistry {
		return strings.TrimPrefix(repo, "library/")
	}
	return reg + "/" + repo
}

// FullName returns the full form stored in the index:
// docker.io/library/busybox:latest or docker.io/library/busybox@sha256:….
func FullName(r name.Reference) string {
	switch v := r.(type) {
	case name.Digest:
		return Repository(r) + "@" + v.DigestStr()
	case name.Tag:
		return Repository(r) + ":" + v.TagStr()
	}
	return r.Name()
}

// Familiar returns the short form users type: busybox:latest.
func Familiar(r name.Reference) string {
	switch v := r.(type) {
	case name.Digest:
		return FamiliarRepository(r) + "@" + v.DigestStr()
	case name.Tag:
		return FamiliarRepository(r) + ":" + v.TagStr()
	}
	return r.Name()
}

// FamiliarString converts a full name to its familiar form; names that do not
// parse are returned unchanged.
func FamiliarString(full string) string {
	r, err := Parse(full)
	if err != nil {
		return full
	}
	return Familiar(r)
}
