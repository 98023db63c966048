package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// identity is a resolved USER.
type identity struct {
	UID, GID int
	Groups   []int
	Home     string
}

// resolveUser resolves a Dockerfile USER value ("name", "uid", "name:group",
// "uid:gid") against the image's passwd and group files, as Docker does:
// numeric ids need no entry, names must exist, supplementary groups come from
// the group file's member lists.
func resolveUser(spec string, passwd, group io.Reader) (identity, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	id := identity{Home: "/"}
	users := parseDB(passwd, 7)
	if userPart == "" {
		userPart = "0"
	}
	var name string
	if n, err := strconv.Atoi(userPart); err == nil {
		if n < 0 {
			return id, fmt.Errorf("invalid user %q", spec)
		}
		id.UID = n
		for _, u := range users {
			if u[2] == userPart {
				name = u[0]
				id.GID, _ = strconv.Atoi(u[3])
				id.Home = u[5]
				break
			}
		}
	} else {
		found := false
		for _, u := range users {
			if u[0] == userPart {
				found = true
				name = u[0]
				id.UID, _ = strconv.Atoi(u[2])
				id.GID, _ = strconv.Atoi(u[3])
				id.Home = u[5]
				break
			}
		}
		if !found {
			return id, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
	}
	if id.UID == 0 && id.Home == "/" && name == "" {
		id.Home = "/root"
	}
	groups := parseDB(group, 4)
	if hasGroup {
		if n, err := strconv.Atoi(groupPart); err == nil && n >= 0 {
			id.GID = n
		} else {
			found := false
			for _, g := range groups {
				if g[0] == groupPart {
					id.GID, _ = strconv.Atoi(g[2])
					found = true
					break
				}
			}
			if !found {
				return id, fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
			}
		}
	}
	id.Groups = []int{id.GID}
	if name != "" && !hasGroup {
		for _, g := range groups {
			for _, m := range strings.Split(g[3], ",") {
				if m == name {
					if n, err := strconv.Atoi(g[2]); err == nil && n != id.GID {
						id.Groups = append(id.Groups, n)
					}
				}
			}
		}
	}
	return id, nil
}

// parseDB reads colon-separated records with at least fields fields,
// skipping comments and malformed lines.
func parseDB(r io.Reader, fields int) [][]string {
	if r == nil {
		return nil
	}
	var out [][]string
	sc := bufio.NewScanner(io.LimitReader(r, 16<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < fields {
			continue
		}
		out = append(out, f)
	}
	return out
}

// dbFile is an optional passwd or group file: a missing one reads as empty.
type dbFile struct{ f *os.File }

func openOrNil(p string) dbFile {
	f, _ := os.Open(p)
	return dbFile{f}
}

func (d dbFile) Read(b []byte) (int, error) {
	if d.f == nil {
		return 0, io.EOF
	}
	return d.f.Read(b)
}

func (d dbFile) Close() {
	if d.f != nil {
		d.f.Close()
	}
}
