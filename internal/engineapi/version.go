package engineapi

import (
	"fmt"
	"strconv"
	"strings"
)

// The API versions served: the newest is what docker CLI 28 speaks; the
// oldest is the daemon's own floor (Docker 25 and later refuse older ones).
const (
	APIVersion    = "1.50"
	MinAPIVersion = "1.24"
)

// compareVersions compares dotted API versions numerically ("1.9" < "1.24").
// A part that is not a number counts as 0, as the daemon's comparison does.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// versionError is the daemon's answer to a version outside the range, in
// its words (clients and scripts match them); it is a 400.
type versionError struct {
	version, min, max string
}

func (e versionError) Error() string {
	if e.min != "" {
		return fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", e.version, e.min)
	}
	return fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", e.version, e.max)
}

// checkVersion accepts the version a request asked for ("" is the newest).
func checkVersion(v string) (string, error) {
	if v == "" {
		return APIVersion, nil
	}
	if compareVersions(v, MinAPIVersion) < 0 {
		return "", badRequest(versionError{version: v, min: MinAPIVersion})
	}
	if compareVersions(v, APIVersion) > 0 {
		return "", badRequest(versionError{version: v, max: APIVersion})
	}
	return v, nil
}

// splitVersion cuts a leading /vX.Y from path; version is "" without one.
// Like the daemon's router, the prefix is "v" followed by digits and dots.
func splitVersion(path string) (version, rest string) {
	if !strings.HasPrefix(path, "/v") {
		return "", path
	}
	end := strings.IndexByte(path[1:], '/')
	seg := path[2:]
	if end >= 0 {
		seg = path[2 : end+1]
	}
	if seg == "" || strings.Trim(seg, "0123456789.") != "" {
		return "", path
	}
	if end < 0 {
		return seg, "/"
	}
	return seg, path[end+1:]
}

type versionKey struct{}
