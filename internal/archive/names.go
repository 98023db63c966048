package archive

import "strings"

// The names handed to Write and returned by Load are full references as
// package ref normalises them ("docker.io/library/busybox:latest"). These
// helpers only take them apart; parsing user input is ref's job.

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

// familiar shortens a full reference the way Docker prints it in
// manifest.json's RepoTags: "docker.io/library/busybox:latest" becomes
// "busybox:latest", "docker.io/me/app:1" becomes "me/app:1".
func familiar(full string) string {
	for _, p := range []string{"docker.io/", "index.docker.io/"} {
		if rest, ok := strings.CutPrefix(full, p); ok {
			if short, ok := strings.CutPrefix(rest, "library/"); ok && !strings.Contains(repoPart(short), "/") {
				return short
			}
			return rest
		}
	}
	return full
}

// repoPart drops a tag or digest from a reference.
func repoPart(s string) string {
	if i := strings.Index(s, "@"); i >= 0 {
		s = s[:i]
	}
	r, _, _ := cutTag(s)
	return r
}
