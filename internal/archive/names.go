package archive

import (
	"strings"

	"github.com/berth-dev/berth/internal/ref"
)

// The names handed to Write and returned by Load are full references as
// package ref normalises them ("docker.io/library/busybox:latest").

// tagOf returns the tag of a full tag reference; digest references have none.
func tagOf(full string) (string, bool) {
	if strings.Contains(full, "@") {
		return "", false
	}
	_, tag, ok := cutTag(full)
	return tag, ok
}

// cutTag splits "repo:tag" at the tag's colon, not at a registry port's.
func cutTag(s string) (repo, tag string, ok bool) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i+1:], "/") {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// familiar is the short form Docker writes in manifest.json's RepoTags and
// repositories ("busybox:latest").
func familiar(full string) string { return ref.FamiliarString(full) }

// defaultNormalize gives a name found in an archive Docker's defaults
// (docker.io, library/, latest).
func defaultNormalize(s string) (string, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return "", err
	}
	return ref.FullName(r), nil
}
