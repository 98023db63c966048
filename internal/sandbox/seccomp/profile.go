package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Filter is a profile reduced to what applies to one step: the rules for
// this machine's architecture, kernel and the step's capabilities.
type Filter = specs.LinuxSeccomp

// Load reads profile (Docker's JSON format; nil or empty means Docker's
// default profile) for a process whose capability bounding set is caps
// (names such as "CAP_CHOWN"), applying the profile's conditions on
// capabilities, architecture and kernel version as Docker does.
func Load(profile []byte, caps []string) (*Filter, error) {
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	if len(profile) == 0 {
		return mobyseccomp.GetDefaultProfile(rs)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(profile, &probe); err != nil {
		return nil, fmt.Errorf("not a seccomp profile: %s", jsonError(profile, err))
	}
	if _, ok := probe["defaultAction"]; !ok {
		// Docker reads {} as "no filter"; a profile that says nothing is
		// more likely a mistake than a wish to run unconfined.
		return nil, errors.New("the profile has no defaultAction (use seccomp=unconfined to run without a filter)")
	}
	f, err := mobyseccomp.LoadProfile(string(profile), rs)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "Decoding seccomp profile failed: "))
	}
	return f, nil
}

// jsonError says where a JSON syntax error is, as line:column.
func jsonError(data []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return err.Error()
	}
	line, col := 1, 1
	for _, c := range data[:min(int(se.Offset), len(data))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}
