package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

// idRange is one subordinate id range from /etc/subuid or /etc/subgid.
type idRange struct{ start, count int }

// subIDRange finds the first range for the user (by name or uid) in file.
func subIDRange(file string, name string, id int) (idRange, bool) {
	f, err := os.Open(file)
	if err != nil {
		return idRange{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(p) != 3 || (p[0] != name && p[0] != strconv.Itoa(id)) {
			continue
		}
		start, err1 := strconv.Atoi(p[1])
		count, err2 := strconv.Atoi(p[2])
		if err1 == nil && err2 == nil && count > 0 {
			return idRange{start, count}, true
		}
	}
	return idRange{}, false
}

// idMapper maps the caller to root of a new user namespace and, when the
// system grants it subordinate ids and has newuidmap/newgidmap (package
// uidmap), ids 1..count to those ranges so RUN steps can switch users.
type idMapper struct {
	uid, gid       int
	subUID, subGID idRange
	newuidmap      string
	newgidmap      string
}

// lookupIDMapper returns the wide mapping for the caller, or nil when only
// the single mapping is available.
func lookupIDMapper() *idMapper {
	uid, gid := os.Geteuid(), os.Getegid()
	name := ""
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		name = u.Username
	}
	m := &idMapper{uid: uid, gid: gid}
	var ok1, ok2 bool
	m.subUID, ok1 = subIDRange("/etc/subuid", name, uid)
	m.subGID, ok2 = subIDRange("/etc/subgid", name, uid)
	var err1, err2 error
	m.newuidmap, err1 = exec.LookPath("newuidmap")
	m.newgidmap, err2 = exec.LookPath("newgidmap")
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return nil
	}
	return m
}

// apply writes the mappings of the (blocked) process pid.
func (m *idMapper) apply(pid int) error {
	p := strconv.Itoa(pid)
	if out, err := exec.Command(m.newuidmap, p, "0", strconv.Itoa(m.uid), "1", "1", strconv.Itoa(m.subUID.start), strconv.Itoa(m.subUID.count)).CombinedOutput(); err != nil {
		return fmt.Errorf("newuidmap: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command(m.newgidmap, p, "0", strconv.Itoa(m.gid), "1", "1", strconv.Itoa(m.subGID.start), strconv.Itoa(m.subGID.count)).CombinedOutput(); err != nil {
		return fmt.Errorf("newgidmap: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
